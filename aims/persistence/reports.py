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
from aims.persistence import nonconformities, queries, soa
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


def management_review(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    previous = session.scalar(select(ManagementReview).order_by(ManagementReview.number.desc()))
    stalled = queries.stalled(session)
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


def add_review(session: Session, *, start: dt.datetime, end: dt.datetime, by: str, report_sha256: str,
               decisions: list[dict[str, Any]], now: dt.datetime) -> ManagementReview:  # fmt: skip
    row = ManagementReview(period_from=start, period_to=end, held_at=now, recorded_by=by, report_sha256=report_sha256,
                           decisions=decisions)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def reviews(session: Session) -> Sequence[ManagementReview]:
    return session.scalars(select(ManagementReview).order_by(ManagementReview.number.desc())).all()
