"""The management review's inputs (ISO/IEC 42001 clause 9.3.2), from live data, and the
reviews held."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aims import audit
from aims.domain import management_review as mr
from aims.domain.management_review import DUE_AFTER, RECORDER_ROLE
from aims.persistence import chains, nonconformities, outbox, soa, users
from aims.persistence.models import (
    AuditEvent,
    GateDecision,
    Incident,
    IntakeVersion,
    ManagementReview,
    Nonconformity,
    UseCase,
)

LATE_EVENTS = ("gate_stalled", "gate_escalated", "stage_stalled", "stage_escalated", "review_overdue",
               "review_escalated", "soa_escalated", "nonconformity_escalated")  # fmt: skip


def management_review(
    session: Session, start: dt.datetime, end: dt.datetime, stalled: list[dict[str, Any]]
) -> dict[str, Any]:
    """`stalled`: the stalled view now (`queries.stalled`)."""
    previous = session.scalar(
        select(ManagementReview).where(ManagementReview.status == "held").order_by(ManagementReview.number.desc())
    )
    return {
        "period": {"from": audit.iso(start), "to": audit.iso(end)},
        "previous_review": _previous(session, previous),
        "use_cases": {
            "total": session.scalar(select(func.count()).select_from(UseCase)) or 0,
            "by_tier": _counted(session, UseCase.aims_tier),
            "by_status": _counted(session, UseCase.status),
            "by_category": _counted(session, UseCase.regulatory_category),
            "submitted_in_period": session.scalar(
                select(func.count()).select_from(IntakeVersion)
                .where(IntakeVersion.version == 1, IntakeVersion.submitted_at >= start, IntakeVersion.submitted_at < end)
            ) or 0,
        },  # fmt: skip
        "approval_cycle_days": _cycle_times(session, start, end),
        "late": {
            "now": Counter(item["kind"] for item in stalled),
            "overdue_reviews": [item for item in stalled if item["kind"] == "review"],
            "escalations_in_period": session.scalar(
                select(func.count()).select_from(AuditEvent)
                .where(AuditEvent.type.in_(LATE_EVENTS), AuditEvent.at >= start, AuditEvent.at < end)
            ) or 0,
        },  # fmt: skip
        "incidents_by_severity": Counter(dict(session.execute(
            select(Incident.severity, func.count()).where(Incident.reported_at >= start, Incident.reported_at < end)
            .group_by(Incident.severity)
        ).all())),  # fmt: skip
        "nonconformities": _nonconformities(session, start, end),
        "soa_changes": [
            {"number": row.number, "status": row.status, "version": row.version, "decided_by": row.decided_by,
             "decided_at": audit.iso(row.decided_at), "note": row.note}  # fmt: skip
            for row in soa.history(session)
            if row.decided_at and start <= row.decided_at < end
        ],
        "policy_versions": sorted({
            classification.get("rubric_version", "?") for classification in session.scalars(
                select(IntakeVersion.classification).where(IntakeVersion.submitted_at >= start,
                                                           IntakeVersion.submitted_at < end)
            )
        }),  # fmt: skip
    }


def _counted(session: Session, column: Any) -> Counter[str]:
    return Counter(dict(session.execute(select(column, func.count()).group_by(column)).all()))


def _cycle_times(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """From a version's intake to its final approval, for final approvals in the period (days)."""
    rows = session.execute(
        select(GateDecision.decided_at, IntakeVersion.submitted_at)
        .join(IntakeVersion, (IntakeVersion.use_case_id == GateDecision.use_case_id)
              & (IntakeVersion.version == GateDecision.version))
        .where(GateDecision.gate_id.like("%-final-%"), GateDecision.decision == "approve",
               GateDecision.decided_at >= start, GateDecision.decided_at < end)
    ).all()  # fmt: skip
    days = sorted((decided - submitted).total_seconds() / 86400 for decided, submitted in rows)

    def at(fraction: float) -> float | None:
        return round(days[min(len(days) - 1, int(fraction * len(days)))], 1) if days else None

    return {"approvals": len(days), "p50": at(0.5), "p90": at(0.9)}


def _nonconformities(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    rows = nonconformities.listed(session)
    return {
        "open": sum(row.status != "closed" for row in rows),
        "late": sum(row.status != "closed" and row.escalation_level >= 2 for row in rows),
        "closed_in_period": sum(bool(row.closed_at and start <= row.closed_at < end) for row in rows),
        "raised_in_period": sum(start <= row.raised_at < end for row in rows),
    }


def _previous(session: Session, review: ManagementReview | None) -> dict[str, Any] | None:
    """The last review's decisions, with where each action stands now (9.3.2 a)."""
    if review is None:
        return None
    decisions = []
    for decision in review.decisions:
        row = session.get(Nonconformity, decision["nonconformity"]) if decision.get("nonconformity") else None
        decisions.append(decision | {"status": row.status if row else None,
                                     "late": bool(row and row.status != "closed" and row.escalation_level >= 2)})  # fmt: skip
    return {"number": review.number, "held_at": audit.iso(review.held_at), "decisions": decisions}


def review_of_request(session: Session, request_key: str) -> ManagementReview | None:
    return session.scalar(select(ManagementReview).where(ManagementReview.request_key == request_key))


def add_review(session: Session, *, start: dt.datetime, end: dt.datetime, by: str, report_sha256: str,
               decisions: list[dict[str, Any]], now: dt.datetime, request_key: str) -> ManagementReview:  # fmt: skip
    """A review held: it discharges the oldest review due, if one is."""
    row = session.scalar(
        select(ManagementReview).where(ManagementReview.status == "due").order_by(ManagementReview.number).limit(1)
    )
    if row is None:
        row = ManagementReview(status="held", period_from=start, period_to=end, decisions=[])
        session.add(row)
    row.status, row.period_from, row.period_to, row.held_at = "held", start, end, now
    row.recorded_by, row.report_sha256, row.decisions, row.request_key = by, report_sha256, decisions, request_key
    session.flush()
    return row


def review_due(
    session: Session, *, start: dt.datetime, end: dt.datetime, now: dt.datetime, channels: Sequence[str]
) -> ManagementReview:
    """Put the review of [start, end) on the list, once (the Schedule may fire twice), and tell
    the AIMS owner and top management that it is due, with its report."""
    row = session.scalar(select(ManagementReview).where(ManagementReview.period_from == start))
    if row is not None:
        return row
    row = ManagementReview(status="due", period_from=start, period_to=end, due_at=now + DUE_AFTER, decisions=[])
    session.add(row)
    session.flush()
    event = chains.NewEvent(type="management_review_due", actor="system", at=now, version=0,
                            data={"number": row.number, "from": audit.iso(start), "to": audit.iso(end)})  # fmt: skip
    chains.append(session, chains.SYSTEM_CHAIN, [event], now)
    assert row.due_at is not None
    outbox.store(session, mr.topic(row.number), mr.due_notices(row.number, start, end, row.due_at), now,
                 channels)  # fmt: skip
    return row


def stalled(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Reviews due and not held in time wait on top management: the stalled view lists them."""
    rows = session.scalars(
        select(ManagementReview)
        .where(ManagementReview.status == "due", ManagementReview.due_at < now)
        .order_by(ManagementReview.number)
    ).all()
    executives = sorted(users.holders_of(session, {RECORDER_ROLE}).get(RECORDER_ROLE, set()))
    return [
        {
            "kind": "management_review", "ref": str(row.number), "label": "management review",
            "role": RECORDER_ROLE, "who": [RECORDER_ROLE], "since": audit.iso(row.period_to),
            "due_at": audit.iso(row.due_at), "escalation_level": 2, "stalled": True, "use_case_id": None,
            "name": f"Management review of {row.period_from:%Y-%m-%d} to {row.period_to - dt.timedelta(days=1):%Y-%m-%d}",
            "status": "due", "assignees": executives,
            "link": mr.report_path(row.period_from, row.period_to),
        } | ({} if executives else {"unassigned": "nobody active holds the executive role"})  # fmt: skip
        for row in rows
        if row.due_at is not None
    ]


def reviews(session: Session) -> Sequence[ManagementReview]:
    return session.scalars(select(ManagementReview).order_by(ManagementReview.number.desc())).all()
