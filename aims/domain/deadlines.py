"""Nothing waits silently (P2): everything waiting on someone climbs one ladder.

At 50 % of its time whoever must act is reminded, at 100 % it is stalled (the AIMS owner is
told and the stalled view lists it), at 200 % the executive role is told. Nothing is ever
decided by the clock. A waiting item is an open gate, an incident triage, a waiting status
(assessment, changes requested, legal hold, approved, suspended, decommissioning) or an
unanswered re-review.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from aims.domain.change import Change
from aims.domain.durations import Duration
from aims.domain.state import APPROVAL_KINDS, Escalation, Gate, Model, ReviewCycle, UseCaseState
from aims.domain.wording import STAGE_WAITING, role_name

WaitingKind = Literal["gate", "triage", "stage", "review"]


class Waiting(Model):
    """Something a person must do by a deadline, and how far it has escalated."""

    kind: WaitingKind
    ref: str
    label: str
    roles: list[str]
    emails: list[str]
    exclude: list[str]
    since: dt.datetime
    due_at: dt.datetime
    escalation_level: int
    # When each rung is reached: reminded, stalled, executive told (None: no such rung).
    steps: tuple[dt.datetime | None, dt.datetime, dt.datetime]

    @property
    def stalled(self) -> bool:
        return Escalation.is_stalled(self.escalation_level)

    @property
    def role(self) -> str | None:
        """The one role a gate or a triage waits on (the others may wait on several, or on people)."""
        return self.roles[0] if self.kind in ("gate", "triage") else None

    def next_step(self) -> tuple[Escalation, dt.datetime] | None:
        for level, at in zip((Escalation.REMINDED, Escalation.STALLED, Escalation.EXECUTIVE), self.steps):
            if at is not None and level > self.escalation_level:
                return level, at
        return None


class Ladder(Model):
    """Where something waiting climbs the 50/100/200 % ladder: its rungs and how far it is up."""

    steps: list[dt.datetime] = []
    level: int = 0

    def next_step(self) -> dt.datetime | None:
        return self.steps[self.level] if self.level < len(self.steps) else None


def waiting(state: UseCaseState) -> list[Waiting]:
    """Every item of this use case that someone must act on now, with its deadline."""
    items = [_gate_item(state, gate) for gate in state.open_gates() if gate.opened_at and gate.due_at]
    stage = state.stage
    if stage is not None and stage.status == state.status:
        roles, emails = stage_actors(state)
        items.append(
            Waiting(
                kind="stage",
                ref=stage.status,
                label=STAGE_WAITING.get(stage.status, stage.status.replace("_", " ")),
                roles=roles,
                emails=emails,
                exclude=[],
                since=stage.since,
                due_at=stage.due_at,
                escalation_level=stage.escalation_level,
                steps=_ladder(state, stage.since, stage.due_at),
            )
        )
    if state.review is not None and not state.review.answered:
        items.append(_review_item(state, state.review))
    return items


def stage_actors(state: UseCaseState) -> tuple[list[str], list[str]]:
    """Who must act while the use case waits in its status: (roles, e-mails)."""
    owner = [state.business_owner]
    return {
        "assessment": ([], owner),
        "changes_requested": ([], sorted({state.requester, state.business_owner})),
        "legal_hold": (["legal"], []),
        "approved": ([], owner),
        "suspended": (["aims_owner"], []),
        "decommissioning": (["aims_owner"], []) if state.decommission and state.decommission.checklist_by else ([], owner),
    }.get(state.status, ([], owner))


def gate_excluded(state: UseCaseState, gate: Gate) -> list[str]:
    """Who may not decide this gate: P1's conflicted people, and with distinct deciders anyone
    who already decided another approval gate of the version."""
    excluded = set(state.conflicted)
    if state.timing.distinct_deciders and gate.kind in APPROVAL_KINDS:
        excluded |= {g.decided_by for g in state.approval_gates() if g.decided_by and g.id != gate.id}
    return sorted(excluded)


def next_deadline(state: UseCaseState) -> dt.datetime | None:
    """The earliest instant at which `escalate` (or a due re-review) has something to do."""
    candidates = [step[1] for item in waiting(state) if (step := item.next_step())]
    if state.status == "in_production" and state.next_review_due:
        candidates.append(state.next_review_due)
    return min(candidates, default=None)


def escalate(change: Change) -> None:
    """Climb every item's ladder up to `change.now`, telling people at each rung reached."""
    state = change.state
    for item in waiting(state):
        while (step := item.next_step()) is not None and change.now >= step[1]:
            level = step[0]
            _set_level(state, item, level)
            item = item.model_copy(update={"escalation_level": level})
            _tell(change, item, level)


# ------------------------------------------------------------ items


def _gate_item(state: UseCaseState, gate: Gate) -> Waiting:
    assert gate.opened_at is not None and gate.due_at is not None
    triage = gate.kind == "incident_triage"
    return Waiting(
        kind="triage" if triage else "gate",
        ref=gate.id,
        label=f"incident {gate.incident} triage" if triage else f"{role_name(gate.role)} {gate.kind} gate",
        roles=[gate.role],
        emails=[],
        exclude=gate_excluded(state, gate),
        since=gate.opened_at,
        due_at=gate.due_at,
        escalation_level=gate.escalation_level,
        steps=_ladder(state, gate.opened_at, gate.due_at),
    )


def _review_item(state: UseCaseState, review: ReviewCycle) -> Waiting:
    timing = state.timing
    answer_due = Duration.parse(timing.review_sla).after(review.due_at)
    # Generation 1 told the AIMS owner at the deadline and the executive later, with no reminder.
    reminder = (
        review.due_at + (answer_due - review.due_at) * timing.gate_escalation.reminder_at
        if timing.generation >= 2
        else None
    )
    return Waiting(
        kind="review",
        ref=str(review.number),
        label=f"re-review {review.number} ({review.trigger})",
        roles=[],
        emails=[state.business_owner],
        exclude=[],
        since=review.due_at,
        due_at=answer_due,
        escalation_level=review.escalation_level,
        steps=(reminder, answer_due, Duration.parse(timing.review_executive_after).after(review.due_at)),
    )


def _ladder(state: UseCaseState, since: dt.datetime, due: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    reminder, stalled, executive = state.timing.gate_escalation.steps(since, due)
    return reminder, stalled, executive


def _set_level(state: UseCaseState, item: Waiting, level: Escalation) -> None:
    if item.kind in ("gate", "triage"):
        gate = state.gate(item.ref)
        assert gate is not None
        gate.escalation_level = level
    elif item.kind == "stage":
        assert state.stage is not None
        state.stage.escalation_level = level
    else:
        assert state.review is not None
        state.review.escalation_level = level


# ------------------------------------------------------------ who hears of it


def _tell(change: Change, item: Waiting, level: Escalation) -> None:
    state = change.state
    due = f"due {item.due_at:%Y-%m-%d %H:%M} UTC"
    data = {"level": int(level), "label": item.label, "due_at": item.due_at.isoformat()}
    if item.kind in ("gate", "triage"):
        gate = state.gate(item.ref)
        assert gate is not None
        kind = {Escalation.REMINDED: "gate_reminder", Escalation.STALLED: "gate_stalled"}.get(level, "gate_escalated")
        word = {Escalation.REMINDED: "reminder", Escalation.STALLED: "stalled"}.get(level, "escalated to executive")
        change.event(kind, gate_id=gate.id, role=gate.role, level=int(level))
        change.notify(
            kind,  # type: ignore[arg-type]
            f"{state.name}: {item.label} {word} ({due})",
            key=f"{gate.id}:{int(level)}",
            gate_id=gate.id,
            data=data | {"role": gate.role, "kind": gate.kind},
            **_audience(item, level),
        )
    elif item.kind == "stage":
        kind = {Escalation.REMINDED: "stage_reminder", Escalation.STALLED: "stage_stalled"}.get(level, "stage_escalated")
        change.event(kind, status=item.ref, level=int(level), due_at=item.due_at.isoformat())
        change.notify(
            kind,  # type: ignore[arg-type]
            f"{state.name}: waiting for {item.label} since {item.since:%Y-%m-%d} ({due})",
            key=f"stage:{item.ref}:{item.since.isoformat()}:{int(level)}",
            data=data | {"status": item.ref},
            **_audience(item, level),
        )
    else:
        assert state.review is not None
        kind = {Escalation.REMINDED: "review_reminder", Escalation.STALLED: "review_overdue"}.get(
            level, "review_escalated"
        )
        change.event(kind, review=state.review.number, due_at=state.review.due_at.isoformat())
        audience = _audience(item, level)
        if level > Escalation.REMINDED:
            audience["to_emails"] = [state.business_owner]  # the owner hears every rung of their review
        word = {Escalation.REMINDED: "answer", Escalation.STALLED: "is overdue, answer was"}.get(
            level, "is overdue, escalated to the executive; answer was"
        )
        change.notify(
            kind,  # type: ignore[arg-type]
            f"{state.name}: re-review {state.review.number} {word} {due}",
            key=f"review{state.review.number}:{state.review.opened_at.isoformat()}:{int(level)}",
            data=data | {"review": state.review.number},
            **audience,
        )


def _audience(item: Waiting, level: Escalation) -> dict[str, Any]:
    return ladder_audience(level, roles=item.roles, emails=item.emails, exclude=item.exclude)


def ladder_audience(level: int, *, roles: list[str], emails: list[str], exclude: list[str]) -> dict[str, Any]:
    """Who hears of a rung of the ladder: whoever must act (reminder), then the AIMS owner,
    then the executive role, both with the governance channel."""
    if level == Escalation.REMINDED:
        return {"to_roles": roles, "to_emails": emails, "exclude": exclude}
    return {"to_roles": ["aims_owner" if level == Escalation.STALLED else "executive"], "broadcast": True}
