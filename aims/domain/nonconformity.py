"""Nonconformities and corrective actions (ISO/IEC 42001 clause 10.2), as a small state machine.

A nonconformity is raised with its corrective action (what, who, by when). The action's owner
completes it; an AIMS owner other than the action's owner checks whether it was effective: yes
closes the nonconformity, no reopens it with a new action. While the action is open it climbs
the gates' ladder toward its due date (reminder at 50 %, late at 100 %, executives at 200 %);
while it waits for the effectiveness check, the check has the gate SLA.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from aims.domain.bounds import RequiredText, Text
from aims.domain.deadlines import Ladder, ladder_audience
from aims.domain.durations import Duration
from aims.domain.intake import Email
from aims.domain.policy import GateEscalation, Policy
from aims.domain.state import Actor, Escalation, Model, Notice, Refused

Source = Literal["incident", "review", "audit_finding", "management_review", "other"]
Status = Literal["action_open", "effectiveness_check", "closed"]
RAISING_ROLES = frozenset({"aims_owner", "risk", "privacy", "security", "legal", "executive", "admin"})
CHECKER_ROLE = "aims_owner"
LONGEST_ACTION = dt.timedelta(days=366)


class CorrectiveAction(Model):
    description: RequiredText
    owner: Email
    due_at: dt.datetime = Field(description="when the action must be done (UTC)")


class RaiseNonconformity(Model):
    """The body that raises one: what went wrong, where it came from, and what will be done."""

    source: Source
    description: RequiredText
    use_case_id: str | None = Field(None, max_length=36, pattern=r"^[A-Za-z0-9-]{1,36}$")
    action: CorrectiveAction


class CompleteAction(Model):
    note: RequiredText = Field(description="what was done")


class CheckEffectiveness(Model):
    effective: bool
    comment: RequiredText
    # When not effective: the next action (the nonconformity reopens with it).
    next_action: CorrectiveAction | None = None

    @model_validator(mode="after")
    def _reopen_needs_an_action(self) -> CheckEffectiveness:
        if not self.effective and self.next_action is None:
            raise ValueError("not effective: give the next corrective action (next_action)")
        return self


class NcCommand(Model):
    actor: Actor
    kind: Literal["complete", "check"]
    complete: CompleteAction | None = None
    check: CheckEffectiveness | None = None
    note: Text = ""


class NcState(Ladder):
    """What the workflow keeps: enough to check commands and run the ladder."""

    number: int
    raised_by: str
    status: Status
    action_owner: str
    since: dt.datetime
    due_at: dt.datetime
    round: int = 1
    # The policy's gate SLA and ladder when it was raised: the check's deadline and the rungs.
    check_sla: str
    escalation: GateEscalation


def may_raise(actor: Actor, body: RaiseNonconformity, now: dt.datetime) -> None:
    if not RAISING_ROLES & set(actor.roles):
        raise Refused("forbidden", "nonconformities are raised by the AIMS owner and the governance roles")
    _due_in_future(body.action, now)


def _due_in_future(action: CorrectiveAction, now: dt.datetime) -> None:
    due = action.due_at if action.due_at.tzinfo else action.due_at.replace(tzinfo=dt.UTC)
    if not now < due <= now + LONGEST_ACTION:
        raise Refused("invalid", "action.due_at: a date after now and within a year")


def check(state: NcState, command: NcCommand, now: dt.datetime) -> None:
    """Raise `Refused` when the command may not be applied now."""
    if state.status == "closed":
        raise Refused("conflict", f"nonconformity {state.number} is closed")
    if command.kind == "complete":
        if state.status != "action_open":
            raise Refused("conflict", "the corrective action is done already; it waits for its effectiveness check")
        if command.actor.email != state.action_owner:
            raise Refused("forbidden", f"the action's owner ({state.action_owner}) completes it")
        return
    if state.status != "effectiveness_check":
        raise Refused("conflict", "the corrective action is not done yet")
    if CHECKER_ROLE not in command.actor.roles:
        raise Refused("forbidden", "an AIMS owner checks whether a corrective action was effective")
    if command.actor.email == state.action_owner:
        raise Refused("forbidden", "someone other than the action's owner checks its effectiveness")
    assert command.check is not None
    if command.check.next_action is not None:
        _due_in_future(command.check.next_action, now)


def done_already(rounds: Sequence[Mapping[str, Any]], command: NcCommand) -> bool:
    """Whether this person's same command is recorded already (a double click, a retry), so it
    is answered rather than refused as out of turn. `rounds` as the register keeps them."""
    by = command.actor.email
    if command.kind == "complete":
        assert command.complete is not None
        return rounds[-1].get("completed_by") == by and rounds[-1].get("note") == command.complete.note
    assert command.check is not None
    last = rounds[-1]
    # Not effective opened a new round, which nobody has completed yet.
    checked = last if "checked_by" in last else rounds[-2] if len(rounds) > 1 and "completed_by" not in last else {}
    return (checked.get("checked_by"), checked.get("effective"), checked.get("comment")) == (
        by, command.check.effective, command.check.comment
    )


def opened(number: int, raised_by: str, action: CorrectiveAction, now: dt.datetime, policy: Policy) -> NcState:
    return _action_open(number, raised_by, action, now, policy.gate_sla, policy.gate_escalation, 1)


def _action_open(
    number: int, raised_by: str, action: CorrectiveAction, now: dt.datetime, check_sla: str,
    escalation: GateEscalation, round_number: int,
) -> NcState:  # fmt: skip
    due = action.due_at if action.due_at.tzinfo else action.due_at.replace(tzinfo=dt.UTC)
    return NcState(number=number, raised_by=raised_by, status="action_open", action_owner=action.owner, since=now,
                   due_at=due, steps=escalation.steps(now, due), check_sla=check_sla, escalation=escalation,
                   round=round_number)  # fmt: skip


def apply(state: NcState, command: NcCommand, now: dt.datetime) -> NcState:
    check(state, command, now)
    if command.kind == "complete":
        due = Duration.parse(state.check_sla).after(now)
        return state.model_copy(update={"status": "effectiveness_check", "since": now, "due_at": due,
                                        "steps": state.escalation.steps(now, due), "level": 0})  # fmt: skip
    assert command.check is not None
    if command.check.effective:
        return state.model_copy(update={"status": "closed", "steps": [], "level": 0})
    assert command.check.next_action is not None
    return _action_open(state.number, state.raised_by, command.check.next_action, now, state.check_sla,
                        state.escalation, state.round + 1)  # fmt: skip


class NcInput(Model):
    number: int
    state: NcState | None = None


class OpenNc(Model):
    number: int
    at: dt.datetime


class RecordNcChange(Model):
    command: NcCommand
    after: NcState
    at: dt.datetime


class RecordNcEscalation(Model):
    number: int
    level: int
    at: dt.datetime


class NcAck(Model):
    number: int
    status: Status
    round: int


# ------------------------------------------------------------ who hears of it (topic "nc-{number}")


def topic(number: int) -> str:
    return f"nc-{number}"


def _data(number: int, **more: object) -> dict[str, object]:
    return {"number": number, "path": f"/nonconformities/{number}", **more}


def assigned_notices(number: int, round_number: int, action: CorrectiveAction) -> list[Notice]:
    """The action's owner is told what to do and by when."""
    return [Notice(
        key=f"{round_number}:assigned", kind="corrective_action_assigned",
        subject=f"Nonconformity {number}: a corrective action for you, due {action.due_at:%Y-%m-%d}",
        to_emails=[action.owner], data=_data(number, detail=action.description, due_at=action.due_at.isoformat()),
    )]  # fmt: skip


def changed_notices(
    *, raised_by: str, owner_before: str, round_before: int, after: NcState, command: NcCommand
) -> list[Notice]:  # fmt: skip
    """Completed: an AIMS owner (not the action's owner) checks it. Checked: closed, or reopened
    with the next action."""
    number = after.number
    if command.kind == "complete":
        note = command.complete.note if command.complete else ""
        return [Notice(
            key=f"{round_before}:check", kind="effectiveness_check_requested",
            subject=f"Nonconformity {number}: the corrective action is done; check whether it was effective "
                    f"(due {after.due_at:%Y-%m-%d})",
            to_roles=[CHECKER_ROLE], exclude=[owner_before], data=_data(number, detail=note),
        )]  # fmt: skip
    assert command.check is not None
    by, comment = command.actor.email, command.check.comment
    told = {"to_emails": [raised_by, owner_before], "exclude": [by]}
    if after.status == "closed":
        return [Notice(
            key=f"{round_before}:closed", kind="nonconformity_closed",
            subject=f"Nonconformity {number} is closed: {by} found the corrective action effective",
            data=_data(number, detail=comment), **told,
        )]  # fmt: skip
    assert command.check.next_action is not None
    reopened = Notice(
        key=f"{round_before}:reopened", kind="nonconformity_reopened",
        subject=f"Nonconformity {number} is reopened: {by} found the corrective action not effective",
        data=_data(number, detail=comment), **told,
    )  # fmt: skip
    return [reopened, *assigned_notices(number, after.round, command.check.next_action)]


def escalation_notices(
    *, number: int, status: str, round_number: int, action_owner: str, due_at: dt.datetime, level: int
) -> list[Notice]:  # fmt: skip
    checking = status == "effectiveness_check"
    what = "effectiveness check" if checking else "corrective action"
    kind = {Escalation.REMINDED: "action_reminder", Escalation.STALLED: "action_stalled"}.get(level, "action_escalated")
    word = {Escalation.REMINDED: "is due", Escalation.STALLED: "is late, it was due"}.get(
        level, "is late, escalated to the executives; it was due"
    )
    audience = ladder_audience(
        level, roles=[CHECKER_ROLE] if checking else [], emails=[] if checking else [action_owner],
        exclude=[action_owner] if checking else [],
    )  # fmt: skip
    return [Notice(
        key=f"{round_number}:{status}:level{level}", kind=kind,  # type: ignore[arg-type]
        subject=f"Nonconformity {number}: the {what} {word} {due_at:%Y-%m-%d %H:%M} UTC",
        data=_data(number, level=level, due_at=due_at.isoformat()), **audience,
    )]  # fmt: skip
