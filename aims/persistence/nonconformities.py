"""Nonconformities' records, each on its own audit chain (`nc-{number}`).

Drafts come from the API; every later write comes from the nonconformity's workflow
(`open`, `change`, `escalate`), each idempotent: a retried activity finds its work done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aims import audit
from aims.domain import nonconformity as nc
from aims.domain.state import Notice
from aims.persistence import chains, outbox, users
from aims.persistence.db import add_once
from aims.persistence.models import Nonconformity


def chain_id(number: int) -> str:
    return f"nc-{number}"


def add_draft(
    session: Session, body: nc.RaiseNonconformity, by: str, now: dt.datetime, request_key: str
) -> Nonconformity:
    """A new draft, or the one an earlier attempt of the same request made (the same key)."""
    found = of_request(session, request_key)
    if found is not None:
        return found
    row = Nonconformity(
        source=body.source, description=body.description, use_case_id=body.use_case_id, raised_by=by,
        raised_at=now, status="draft", action_owner=body.action.owner, due_at=body.action.due_at,
        escalation_level=0, rounds=[_round(1, body.action)], request_key=request_key,
    )  # fmt: skip
    return add_once(session, row, lambda: of_request(session, request_key))


def of_request(session: Session, request_key: str) -> Nonconformity | None:
    return session.scalar(select(Nonconformity).where(Nonconformity.request_key == request_key))


def action_of(row: Nonconformity) -> nc.CorrectiveAction:
    return nc.CorrectiveAction.model_validate(row.rounds[-1]["action"])


def open_(session: Session, state: nc.NcState, channels: Sequence[str]) -> None:
    row = _locked(session, state.number)
    if row.status != "draft":
        return  # a retry
    row.status, row.due_at = state.status, state.due_at
    _event(session, row, "nonconformity_raised", row.raised_by, state.since, source=row.source,
           description=row.description, use_case_id=row.use_case_id, action=row.rounds[-1]["action"])  # fmt: skip
    _tell(session, row, nc.assigned_notices(row.number, state.round, action_of(row)), state.since, channels)


def change(session: Session, command: nc.NcCommand, after: nc.NcState, now: dt.datetime, channels: Sequence[str]) -> None:
    row = _locked(session, after.number)
    current = row.rounds[-1]
    if (command.kind == "complete" and "completed_at" in current) or (command.kind == "check" and "checked_at" in current):
        return  # a retry
    notices = nc.changed_notices(raised_by=row.raised_by, owner_before=row.action_owner, round_before=len(row.rounds),
                                 after=after, command=command)  # fmt: skip
    _tell(session, row, notices, now, channels)
    rounds = [dict(r) for r in row.rounds]
    by = command.actor.email
    if command.kind == "complete":
        assert command.complete is not None
        rounds[-1] |= {"completed_by": by, "completed_at": audit.iso(now), "note": command.complete.note}
        _event(session, row, "corrective_action_completed", by, now, round=after.round, note=command.complete.note)
    else:
        assert command.check is not None
        rounds[-1] |= {"checked_by": by, "checked_at": audit.iso(now), "effective": command.check.effective,
                       "comment": command.check.comment}  # fmt: skip
        _event(session, row, "effectiveness_checked", by, now, effective=command.check.effective,
               comment=command.check.comment, round=len(rounds))  # fmt: skip
        if command.check.next_action is not None:
            rounds.append(_round(after.round, command.check.next_action))
            _event(session, row, "nonconformity_reopened", by, now, round=after.round,
                   action=rounds[-1]["action"])  # fmt: skip
    row.rounds = rounds
    row.status, row.action_owner, row.due_at, row.escalation_level = after.status, after.action_owner, after.due_at, 0
    row.closed_at = now if after.status == "closed" else None


def escalate(session: Session, number: int, level: int, now: dt.datetime, channels: Sequence[str]) -> None:
    row = _locked(session, number)
    if row.status != "closed" and row.escalation_level < level:
        row.escalation_level = level
        _event(session, row, "nonconformity_escalated", "system", now, level=level, status=row.status)
        notices = nc.escalation_notices(number=number, status=row.status, round_number=len(row.rounds),
                                        action_owner=row.action_owner, due_at=row.due_at, level=level)  # fmt: skip
        _tell(session, row, notices, now, channels)


def _tell(session: Session, row: Nonconformity, notices: list[Notice], now: dt.datetime, channels: Sequence[str]) -> None:
    outbox.store(session, nc.topic(row.number), notices, now, channels, use_case_id=None)


def _round(number: int, action: nc.CorrectiveAction) -> dict[str, Any]:
    return {"round": number, "action": action.model_dump(mode="json")}


def _locked(session: Session, number: int) -> Nonconformity:
    row = session.get(Nonconformity, number, with_for_update=True)
    assert row is not None, f"no nonconformity {number}"
    return row


def _event(session: Session, row: Nonconformity, kind: str, by: str, at: dt.datetime, **data: Any) -> None:
    event = chains.NewEvent(type=kind, actor=by, at=at, version=0, data={"number": row.number, **data})
    chains.append(session, chain_id(row.number), [event], at)


# ------------------------------------------------------------ reads


def get(session: Session, number: int) -> Nonconformity | None:
    return session.get(Nonconformity, number)


def listed(session: Session, status: str | None = None) -> Sequence[Nonconformity]:
    query = select(Nonconformity).where(Nonconformity.status != "draft").order_by(Nonconformity.number.desc())
    if status == "open":
        query = query.where(Nonconformity.status != "closed")
    elif status:
        query = query.where(Nonconformity.status == status)
    return session.scalars(query).all()


def view(row: Nonconformity) -> dict[str, Any]:
    return {
        "number": row.number, "source": row.source, "description": row.description, "use_case_id": row.use_case_id,
        "raised_by": row.raised_by, "raised_at": audit.iso(row.raised_at), "status": row.status,
        "action_owner": row.action_owner, "due_at": audit.iso(row.due_at), "escalation_level": row.escalation_level,
        "late": row.status != "closed" and row.escalation_level >= 2, "rounds": row.rounds,
        "closed_at": audit.iso(row.closed_at) if row.closed_at else None,
    }  # fmt: skip


def stalled(session: Session) -> list[dict[str, Any]]:
    """Late corrective actions and effectiveness checks, as the stalled view lists them."""
    rows = session.scalars(
        select(Nonconformity)
        .where(Nonconformity.status.in_(["action_open", "effectiveness_check"]), Nonconformity.escalation_level >= 2)
        .order_by(Nonconformity.due_at, Nonconformity.number)
    ).all()
    inactive = users.inactive_emails(session, {row.action_owner for row in rows})
    owners = users.holders_of(session, {nc.CHECKER_ROLE}).get(nc.CHECKER_ROLE, set())
    items = []
    for row in rows:
        checking = row.status == "effectiveness_check"
        if checking:
            assignees = sorted(owners - {row.action_owner})
        else:
            assignees = [] if row.action_owner in inactive else [row.action_owner]
        item = {
            "kind": "corrective_action", "ref": str(row.number),
            "label": f"nonconformity {row.number}: " + ("effectiveness check" if checking else "corrective action"),
            "role": nc.CHECKER_ROLE if checking else None, "who": [nc.CHECKER_ROLE] if checking else [row.action_owner],
            "since": audit.iso(row.raised_at), "due_at": audit.iso(row.due_at), "escalation_level": row.escalation_level,
            "stalled": True, "use_case_id": row.use_case_id, "name": f"Nonconformity {row.number}",
            "status": row.status, "assignees": assignees, "link": f"/nonconformities/{row.number}",
        }  # fmt: skip
        if not assignees:
            item["unassigned"] = f"{row.action_owner} is deactivated" if not checking else "no other active AIMS owner"
        items.append(item)
    return items
