"""The Statement of Applicability's records: proposals and approved versions, on the `soa` chain.

Writes come from the SoA workflow's activities (`propose`, `decide`, `escalate`), each idempotent:
a retried activity finds its work done and answers the same. Drafts come from the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aims.domain import soa
from aims.domain.soa import PendingSoa, SoaProposal as Proposal
from aims.persistence import chains, outbox
from aims.persistence.db import add_once
from aims.persistence.models import SoaProposal, UseCase

SOA_CHAIN = "soa"


def add_draft(session: Session, proposal: Proposal, by: str, now: dt.datetime, request_key: str) -> SoaProposal:
    row = SoaProposal(
        status="draft", entries=[entry.model_dump(mode="json") for entry in proposal.entries], note=proposal.note,
        proposed_by=by, created_at=now, escalation_level=0, comment="", request_key=request_key,
    )  # fmt: skip
    return add_once(session, row, lambda: of_request(session, request_key))


def of_request(session: Session, request_key: str) -> SoaProposal | None:
    """The proposal an earlier attempt of the same request drafted."""
    return session.scalar(select(SoaProposal).where(SoaProposal.request_key == request_key))


def propose(session: Session, pending: PendingSoa, channels: Sequence[str]) -> None:
    row = session.get(SoaProposal, pending.number, with_for_update=True)
    assert row is not None, f"no draft {pending.number}"
    if row.status != "draft":
        return  # a retry: done already
    row.status, row.proposed_at, row.due_at = "proposed", pending.since, pending.due_at
    _event(session, "soa_proposed", row.proposed_by, pending.since, number=row.number, note=row.note,
           due_at=pending.due_at.isoformat(), entries=row.entries)  # fmt: skip
    notices = soa.proposed_notices(row.number, row.proposed_by, pending.due_at, row.note)
    outbox.store(session, soa.TOPIC, notices, pending.since, channels)


def decide(
    session: Session, number: int, decision: str, by: str, comment: str, now: dt.datetime, channels: Sequence[str]
) -> int | None:
    """Approve (the proposal becomes the next version, returned) or reject it."""
    row = session.get(SoaProposal, number, with_for_update=True)
    assert row is not None, f"no proposal {number}"
    if row.status == "proposed":
        row.status, row.decided_by, row.decided_at, row.comment = (
            soa.outcome(decision), by, now, comment
        )
        if decision == "approve":
            row.version = (session.scalar(select(func.max(SoaProposal.version))) or 0) + 1
        _event(session, f"soa_{row.status}", by, now, number=number, version=row.version, comment=comment)
        notices = soa.decided_notices(number, decision, by, comment, row.proposed_by, row.version)
        outbox.store(session, soa.TOPIC, notices, now, channels)
    return row.version


def escalate(session: Session, number: int, level: int, now: dt.datetime, channels: Sequence[str]) -> None:
    row = session.get(SoaProposal, number, with_for_update=True)
    if row is not None and row.status == "proposed" and row.escalation_level < level:
        row.escalation_level = level
        _event(session, "soa_escalated", "system", now, number=number, level=level)
        assert row.due_at is not None
        outbox.store(session, soa.TOPIC, soa.escalation_notices(number, row.proposed_by, row.due_at, level), now,
                     channels)  # fmt: skip


def _event(session: Session, kind: str, by: str, at: dt.datetime, **data: Any) -> None:
    chains.append(session, SOA_CHAIN, [chains.NewEvent(type=kind, actor=by, at=at, version=0, data=data)], at)


# ------------------------------------------------------------ reads


def current(session: Session) -> SoaProposal | None:
    """The approved version in force."""
    return session.scalar(select(SoaProposal).where(SoaProposal.version.is_not(None)).order_by(SoaProposal.version.desc()))


def waiting(session: Session) -> SoaProposal | None:
    return session.scalar(select(SoaProposal).where(SoaProposal.status == "proposed"))


def proposal(session: Session, number: int) -> SoaProposal | None:
    return session.get(SoaProposal, number)


def history(session: Session) -> Sequence[SoaProposal]:
    """Every proposal that reached the executive (drafts never accepted are not history)."""
    return session.scalars(
        select(SoaProposal).where(SoaProposal.status != "draft").order_by(SoaProposal.number.desc())
    ).all()


def citations(session: Session) -> dict[str, list[dict[str, str]]]:
    """For each control, the use cases that cite it now: in a risk treatment of their current
    assessment or among the controls in place at their sign-off."""
    cited: dict[str, list[dict[str, str]]] = {}
    rows = session.execute(select(UseCase.id, UseCase.name, UseCase.details).order_by(UseCase.name, UseCase.id))
    for use_case_id, name, details in rows:
        details = details or {}
        controls = {c for risk in (details.get("assessment") or {}).get("risks", []) for c in risk.get("controls", [])}
        controls |= set((details.get("signoff") or {}).get("controls_in_place", []))
        for control in controls:
            cited.setdefault(control, []).append({"id": use_case_id, "name": name})
    return cited
