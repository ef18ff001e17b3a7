"""The lifecycle of one AI use case as a pure state machine.

`start`, `apply` and `tick` take the current state and the current time and return the new
state with a `Transition`: the audit events and notices that the change produced. The
workflow persists each transition; nothing here does I/O or reads a clock, so the same
rules run in the workflow, in validators and in plain unit tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aims.domain import actions
from aims.domain.classification import Classification
from aims.domain.durations import Duration
from aims.domain.policy import Timing

Status = Literal[
    "assessment",
    "in_review",
    "changes_requested",
    "legal_hold",
    "approved",
    "in_production",
    "under_review",
    "suspended",
    "rejected",
    "decommissioning",
    "retired",
]
TERMINAL: frozenset[str] = frozenset({"rejected", "retired"})
GateKind = Literal["review", "final", "continuation", "decommission"]
GateState = Literal["pending", "open", "approved", "rejected", "changes_requested", "superseded"]
NoticeKind = Literal[
    "assessment_requested",
    "gate_request",
    "gate_reminder",
    "gate_stalled",
    "gate_escalated",
    "decision",
    "signoff_requested",
    "review_due",
    "review_overdue",
    "review_escalated",
    "incident",
    "legal_hold",
    "rejected",
    "decommission_requested",
    "retired",
]
MAX_REMEMBERED_REQUESTS = 500


class Refused(Exception):
    """A human action the rules do not allow; `code` says how the API answers it."""

    def __init__(self, code: Literal["forbidden", "conflict", "invalid", "not_found"], message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(Model):
    email: str
    roles: list[str] = Field(default_factory=list)


class Gate(Model):
    id: str
    role: str
    kind: GateKind
    version: int
    state: GateState
    opened_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    # 0 none, 1 reminder sent, 2 stalled (AIMS owner told), 3 executive told.
    escalation_level: int = 0
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision: str | None = None
    comment: str | None = None

    @property
    def stalled(self) -> bool:
        return self.escalation_level >= 2


class ReviewCycle(Model):
    number: int
    trigger: Literal["periodic", "incident", "owner"]
    opened_at: dt.datetime
    due_at: dt.datetime
    answer: dict[str, Any] | None = None
    answered_by: str | None = None
    # 0 none, 1 AIMS owner told (overdue), 2 executive told.
    overdue_level: int = 0


class Decommission(Model):
    requested_by: str
    requested_at: dt.datetime
    reason: str
    checklist: dict[str, Any] | None = None
    checklist_by: str | None = None


class Routing(Model):
    review_roles: list[str]
    final_role: str | None


class UseCaseState(Model):
    id: str
    name: str
    requester: str
    business_owner: str
    status: Status
    version: int
    intake: dict[str, Any]
    classification: Classification
    routing: Routing
    timing: Timing
    created_at: dt.datetime
    updated_at: dt.datetime
    status_reason: str = ""
    gates: list[Gate] = Field(default_factory=list)
    assessment: dict[str, Any] | None = None
    assessment_version: int | None = None
    signoff: dict[str, Any] | None = None
    in_production_since: dt.datetime | None = None
    last_review_completed_at: dt.datetime | None = None
    next_review_due: dt.datetime | None = None
    review: ReviewCycle | None = None
    reviews_completed: int = 0
    incidents: int = 0
    suspended: bool = False
    decommission: Decommission | None = None
    transition_number: int = 0
    # Set when a review cycle closed: the workflow continues as new to bound its history.
    cycle_closed: bool = False
    seen_requests: list[str] = Field(default_factory=list)

    def gate(self, gate_id: str) -> Gate | None:
        return next((g for g in self.gates if g.id == gate_id), None)

    def open_gates(self) -> list[Gate]:
        return [g for g in self.gates if g.state == "open"]

    def unresolved_blockers(self) -> list[str]:
        resolved = (self.signoff or {}).get("blocker_resolutions", {})
        return [rule for rule in self.classification.signoff_blockers if rule not in resolved]

    def view(self) -> dict[str, Any]:
        """The public read model: what the API returns and the register stores."""
        data = self.model_dump(mode="json", exclude={"seen_requests", "cycle_closed", "transition_number"})
        data["gates"] = [g.model_dump(mode="json") | {"stalled": g.stalled} for g in self.gates]
        data["signoff_blockers"] = self.unresolved_blockers()
        data["policy_version"] = self.classification.rubric_version
        return data


class AuditEvent(Model):
    type: str
    actor: str
    at: dt.datetime
    version: int
    data: dict[str, Any] = Field(default_factory=dict)


class Notice(Model):
    """A message to people; `key` makes it unique within the use case so a retry sends it once."""

    key: str
    kind: NoticeKind
    subject: str
    to_roles: list[str] = Field(default_factory=list)
    to_emails: list[str] = Field(default_factory=list)
    # Never prompt the requester or business owner to decide their own use case.
    exclude: list[str] = Field(default_factory=list)
    gate_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Transition(Model):
    number: int
    use_case_id: str
    events: list[AuditEvent] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)


# ---------------------------------------------------------------- commands


class Command(Model):
    actor: Actor


class SubmitAssessment(Command):
    assessment: actions.Assessment


class DecideGate(Command):
    gate_id: str
    body: actions.GateDecision
    # The version the decider was looking at; a decision on an older version is stale.
    version: int | None = None


class ReviseIntake(Command):
    """What the person sends; the workflow re-classifies it into a `Revise`."""

    intake: dict[str, Any]
    reason: str = ""


class Revise(ReviseIntake):
    classification: Classification
    routing: Routing
    timing: Timing


class SignOffCommand(Command):
    body: actions.SignOff


class SubmitReview(Command):
    body: actions.ReviewAnswer


class ReportIncident(Command):
    body: actions.Incident


class RequestDecommission(Command):
    body: actions.DecommissionRequest


class ConfirmChecklist(Command):
    body: actions.DecommissionChecklist


# ---------------------------------------------------------------- the machine


class _Change:
    """Collects what one transition does to a copy of the state."""

    def __init__(self, state: UseCaseState, now: dt.datetime, actor: str):
        self.state = state.model_copy(deep=True)
        self.now = now
        self.actor = actor
        self.events: list[AuditEvent] = []
        self.notices: list[Notice] = []
        self._status_before = state.status

    def event(self, type_: str, **data: Any) -> None:
        self.events.append(
            AuditEvent(type=type_, actor=self.actor, at=self.now, version=self.state.version, data=data)
        )

    def notify(self, kind: NoticeKind, subject: str, *, key: str, **fields: Any) -> None:
        self.notices.append(
            Notice(key=f"{self.state.transition_number + 1}:{kind}:{key}", kind=kind, subject=subject, **fields)
        )

    def set_status(self, status: Status, reason: str = "") -> None:
        self.state.status = status
        self.state.status_reason = reason

    def finish(self) -> tuple[UseCaseState, Transition]:
        state = self.state
        if state.status != self._status_before:
            self.event("status_changed", before=self._status_before, after=state.status, reason=state.status_reason)
        state.transition_number += 1
        state.updated_at = self.now
        return state, Transition(
            number=state.transition_number, use_case_id=state.id, events=self.events, notices=self.notices
        )


def start(
    *,
    use_case_id: str,
    intake: dict[str, Any],
    classification: Classification,
    routing: Routing,
    timing: Timing,
    requester: str,
    now: dt.datetime,
) -> tuple[UseCaseState, Transition]:
    state = UseCaseState(
        id=use_case_id,
        name=intake["name"],
        requester=requester,
        business_owner=intake["business_owner"],
        status="assessment",
        version=1,
        intake=intake,
        classification=classification,
        routing=routing,
        timing=timing,
        created_at=now,
        updated_at=now,
    )
    change = _Change(state, now, requester)
    change.event("intake_submitted", intake=intake)
    change.event("classified", classification=classification.model_dump(mode="json"), routing=routing.model_dump())
    _route_after_classification(change, has_assessment=False)
    if change.state.status == "assessment":
        # The initial status is not a change; record it explicitly for the trail.
        change.event("status_changed", before=None, after="assessment", reason="")
    return change.finish()


def check(state: UseCaseState, command: Command) -> None:
    """Raise `Refused` when the command may not be applied now; changes nothing."""
    if state.status in TERMINAL:
        raise Refused("conflict", f"the use case is {state.status} and accepts no further changes")
    _CHECKS[type(command)](state, command)


def apply(state: UseCaseState, command: Command, now: dt.datetime) -> tuple[UseCaseState, Transition]:
    check(state, command)
    change = _Change(state, now, command.actor.email)
    _APPLY[type(command)](change, command)
    return change.finish()


def remember_request(state: UseCaseState, request_id: str) -> None:
    state.seen_requests.append(request_id)
    del state.seen_requests[:-MAX_REMEMBERED_REQUESTS]


# ------------------------------------------------------------ assessment


def _check_assessment(state: UseCaseState, command: SubmitAssessment) -> None:
    if state.status != "assessment":
        raise Refused("conflict", f"no assessment is expected while the use case is {state.status}")
    _require_business_owner(state, command.actor, "submit the assessment")


def _apply_assessment(change: _Change, command: SubmitAssessment) -> None:
    change.state.assessment = command.assessment.model_dump(mode="json")
    change.state.assessment_version = change.state.version
    change.event("assessment_submitted", assessment=change.state.assessment)
    _open_approval_gates(change)


# ------------------------------------------------------------ gates


def _check_decision(state: UseCaseState, command: DecideGate) -> None:
    if command.version is not None and command.version != state.version:
        raise Refused(
            "conflict",
            f"stale: you looked at version {command.version}, the use case is now at version {state.version}",
        )
    gate = state.gate(command.gate_id)
    if gate is None:
        raise Refused("not_found", f"gate {command.gate_id!r} does not exist on this use case")
    if gate.state != "open":
        detail = f" ({gate.decision} by {gate.decided_by})" if gate.decided_by else ""
        raise Refused("conflict", f"gate {gate.id} is not open: it is {gate.state}{detail}")
    actor = command.actor
    if gate.role not in actor.roles:
        raise Refused("forbidden", f"gate {gate.id} needs the {gate.role} role")
    if actor.email in (state.requester, state.business_owner):
        raise Refused("forbidden", "you cannot decide a gate of your own use case (requester or business owner)")
    decision = command.body.decision
    if decision in ("reject", "request_changes") and not command.body.comment:
        raise Refused("invalid", f"comment: a {decision} decision needs a comment saying why")
    if decision == "reject" and gate.kind in ("continuation", "decommission"):
        raise Refused("invalid", f"decision: a {gate.kind} gate is approved or sent back with request_changes")


def _apply_decision(change: _Change, command: DecideGate) -> None:
    state = change.state
    gate = state.gate(command.gate_id)
    assert gate is not None
    decision = command.body.decision
    gate.state = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}[decision]
    gate.decision, gate.comment = decision, command.body.comment or None
    gate.decided_by, gate.decided_at = change.actor, change.now
    change.event(
        "gate_decided",
        gate_id=gate.id,
        role=gate.role,
        kind=gate.kind,
        decision=decision,
        comment=command.body.comment,
        gate_version=gate.version,
    )
    people = [state.requester, state.business_owner]
    change.notify(
        "decision",
        f"{state.name}: {gate.role} {decision.replace('_', ' ')} ({gate.kind} gate)",
        key=gate.id,
        to_emails=people,
        gate_id=gate.id,
        data={"decision": decision, "comment": command.body.comment, "decided_by": change.actor},
    )
    if gate.kind in ("review", "final"):
        _after_approval_decision(change, gate)
    elif gate.kind == "continuation":
        _after_continuation_decision(change, gate)
    else:
        _after_decommission_decision(change, gate)


def _after_approval_decision(change: _Change, gate: Gate) -> None:
    state = change.state
    if gate.state == "rejected":
        _supersede_open_gates(change)
        change.set_status("rejected", f"rejected by {gate.role} ({change.actor}): {gate.comment}")
        return
    if gate.state == "changes_requested":
        _supersede_open_gates(change)
        change.set_status("changes_requested", f"{gate.role} requested changes: {gate.comment}")
        return
    current = [g for g in state.gates if g.version == state.version and g.kind in ("review", "final")]
    final = next(g for g in current if g.kind == "final")
    if gate.kind == "review":
        if all(g.state == "approved" for g in current if g.kind == "review"):
            _open_gate(change, final)
        return
    change.set_status("approved", "all approval gates approved; waiting for deployment sign-off")
    change.notify(
        "signoff_requested",
        f"{state.name} is approved: confirm operations and sign off deployment",
        key="signoff",
        to_emails=[state.business_owner],
    )


def _after_continuation_decision(change: _Change, gate: Gate) -> None:
    state = change.state
    if gate.state == "changes_requested":
        change.set_status("changes_requested", f"re-review: {gate.role} requested changes: {gate.comment}")
        state.review = None
        return
    assert state.review is not None
    change.event("review_completed", review=state.review.number)
    state.last_review_completed_at = change.now
    state.next_review_due = _next_review(state, change.now)
    state.reviews_completed += 1
    state.review = None
    state.suspended = False
    state.cycle_closed = True
    change.set_status("in_production", "re-review completed; continuation confirmed")


def _after_decommission_decision(change: _Change, gate: Gate) -> None:
    state = change.state
    assert state.decommission is not None
    if gate.state == "changes_requested":
        state.decommission.checklist = None
        state.decommission.checklist_by = None
        change.set_status("decommissioning", f"checklist sent back: {gate.comment}")
        return
    change.set_status("retired", "decommission confirmed by the AIMS owner")
    state.next_review_due = None
    change.notify("retired", f"{state.name} is retired", key="retired", to_emails=[state.business_owner])


# ------------------------------------------------------------ revision


def _check_revision(state: UseCaseState, command: ReviseIntake) -> None:
    actor = command.actor
    if state.status == "legal_hold":
        if "legal" not in actor.roles:
            raise Refused("forbidden", "a use case on legal hold is revised by the legal role")
        return
    if state.status == "decommissioning":
        raise Refused("conflict", "the use case is being decommissioned")
    if actor.email not in (state.requester, state.business_owner):
        raise Refused("forbidden", "only the requester or the business owner may revise the intake")


def _apply_revision(change: _Change, command: Revise) -> None:
    state = change.state
    _supersede_open_gates(change)
    state.version += 1
    state.intake = command.intake
    state.name = command.intake["name"]
    state.business_owner = command.intake["business_owner"]
    state.classification = command.classification
    state.routing = command.routing
    state.timing = command.timing
    state.signoff = None
    state.review = None
    change.event("intake_revised", intake=command.intake, reason=command.reason)
    change.event(
        "classified", classification=command.classification.model_dump(mode="json"), routing=command.routing.model_dump()
    )
    _route_after_classification(change, has_assessment=state.assessment is not None)


# ------------------------------------------------------------ sign-off


def _check_signoff(state: UseCaseState, command: SignOffCommand) -> None:
    _require_business_owner(state, command.actor, "sign off deployment")
    if state.status != "approved":
        raise Refused("conflict", f"deployment sign-off needs status approved, not {state.status}")
    operations = _merged_operations(state, command.body)
    missing = operations.missing_for_signoff()
    if missing:
        raise Refused("invalid", "operations: required before sign-off: " + ", ".join(missing))
    unresolved = [r for r in state.classification.signoff_blockers if r not in command.body.blocker_resolutions]
    if unresolved:
        raise Refused(
            "conflict",
            "unresolved sign-off blockers: "
            + ", ".join(unresolved)
            + " (give blocker_resolutions with evidence_url and note, or revise the intake)",
        )
    unknown = set(command.body.blocker_resolutions) - set(state.classification.signoff_blockers)
    if unknown:
        raise Refused("invalid", f"blocker_resolutions: {', '.join(sorted(unknown))} did not fire for this version")


def _merged_operations(state: UseCaseState, body: actions.SignOff) -> actions.Operations:
    merged = dict(state.intake.get("operations") or {})
    merged.update({k: v for k, v in body.operations.model_dump().items() if v})
    return actions.Operations.model_validate(merged)


def _apply_signoff(change: _Change, command: SignOffCommand) -> None:
    state = change.state
    operations = _merged_operations(state, command.body)
    state.signoff = command.body.model_dump(mode="json") | {
        "operations": operations.model_dump(mode="json"),
        "signed_off_by": change.actor,
        "signed_off_at": change.now.isoformat(),
        "version": state.version,
    }
    state.intake = state.intake | {"operations": operations.model_dump(mode="json")}
    if state.in_production_since is None:
        state.in_production_since = change.now
    state.next_review_due = _next_review(state, change.now)
    change.event("signed_off", signoff=state.signoff, next_review_due=state.next_review_due.isoformat())
    change.set_status("in_production", "deployment signed off")


# ------------------------------------------------------------ re-review


def _check_review(state: UseCaseState, command: SubmitReview) -> None:
    _require_business_owner(state, command.actor, "answer the re-review")
    if state.review is None and state.status != "in_production":
        raise Refused("conflict", f"no re-review is open while the use case is {state.status}")
    if state.review is not None and state.review.answer is not None:
        raise Refused("conflict", "this re-review is already answered; the AIMS owner confirms continuation")


def _apply_review(change: _Change, command: SubmitReview) -> None:
    state = change.state
    if state.review is None:
        _open_review(change, "owner")
    review = state.review
    assert review is not None
    answer = command.body
    review.answer, review.answered_by = answer.model_dump(mode="json"), change.actor
    change.event("review_answered", review=review.number, answer=review.answer)
    changed = answer.material_change.any_change()
    if answer.proposal == "decommission":
        _begin_decommission(change, f"re-review {review.number} proposed decommissioning")
    elif changed or answer.proposal == "reassess":
        why = f"material change: {', '.join(changed)}" if changed else "owner proposed reassessment"
        state.review = None
        change.set_status("changes_requested", f"re-review {review.number}: {why}; submit a revision")
    else:
        state.gates = [g for g in state.gates if g.kind != "continuation"]
        gate = Gate(
            id=f"v{state.version}-review{review.number}-aims_owner",
            role="aims_owner",
            kind="continuation",
            version=state.version,
            state="pending",
        )
        state.gates.append(gate)
        _open_gate(change, gate)


def _open_review(change: _Change, trigger: Literal["periodic", "incident", "owner"]) -> None:
    state = change.state
    due = state.next_review_due if trigger == "periodic" and state.next_review_due else change.now
    state.review = ReviewCycle(number=state.reviews_completed + 1, trigger=trigger, opened_at=change.now, due_at=due)
    change.event("review_opened", review=state.review.number, trigger=trigger, due_at=due.isoformat())
    change.set_status("suspended" if state.suspended else "under_review", f"{trigger} re-review open")
    change.notify(
        "review_due",
        f"{state.name}: re-review {state.review.number} is due ({trigger})",
        key=f"review{state.review.number}",
        to_emails=[state.business_owner],
    )


# ------------------------------------------------------------ incidents


def _check_incident(state: UseCaseState, command: ReportIncident) -> None:
    if state.status not in ("in_production", "under_review", "suspended", "approved"):
        raise Refused("conflict", f"incidents are reported on deployed use cases, not while {state.status}")


def _apply_incident(change: _Change, command: ReportIncident) -> None:
    state = change.state
    state.incidents += 1
    body = command.body
    change.event("incident_reported", number=state.incidents, **body.model_dump(mode="json"))
    change.notify(
        "incident",
        f"{state.name}: {body.severity} incident reported",
        key=f"incident{state.incidents}",
        to_emails=[state.business_owner],
        to_roles=["aims_owner"] + (["executive"] if body.severity == "serious" else []),
        data={"severity": body.severity, "description": body.description},
    )
    if body.severity == "minor" or state.status == "approved":
        return
    if body.severity == "serious":
        state.suspended = True
        change.set_status("suspended", f"serious incident {state.incidents}")
    if state.review is None:
        _open_review(change, "incident")


# ------------------------------------------------------------ decommission


def _check_decommission_request(state: UseCaseState, command: RequestDecommission) -> None:
    if state.status not in ("approved", "in_production", "under_review", "suspended", "changes_requested"):
        raise Refused("conflict", f"a use case that is {state.status} cannot be decommissioned")
    actor = command.actor
    if actor.email not in (state.requester, state.business_owner) and "aims_owner" not in actor.roles:
        raise Refused("forbidden", "decommission is requested by the business owner, the requester or the AIMS owner")


def _apply_decommission_request(change: _Change, command: RequestDecommission) -> None:
    _begin_decommission(change, command.body.reason)


def _begin_decommission(change: _Change, reason: str) -> None:
    state = change.state
    _supersede_open_gates(change)
    state.review = None
    state.decommission = Decommission(requested_by=change.actor, requested_at=change.now, reason=reason)
    change.event("decommission_requested", reason=reason)
    change.set_status("decommissioning", reason)
    change.notify(
        "decommission_requested",
        f"{state.name}: decommission requested; confirm the checklist",
        key="decommission",
        to_emails=[state.business_owner],
        data={"reason": reason},
    )


def _check_checklist(state: UseCaseState, command: ConfirmChecklist) -> None:
    if state.status != "decommissioning" or state.decommission is None:
        raise Refused("conflict", f"no decommission is in progress (status {state.status})")
    if state.decommission.checklist is not None:
        raise Refused("conflict", "the checklist is confirmed; the AIMS owner decides the decommission gate")
    _require_business_owner(state, command.actor, "confirm the decommission checklist")
    unchecked = command.body.unchecked()
    if unchecked:
        raise Refused("invalid", "checklist: not done yet: " + ", ".join(unchecked))


def _apply_checklist(change: _Change, command: ConfirmChecklist) -> None:
    state = change.state
    assert state.decommission is not None
    state.decommission.checklist = command.body.model_dump(mode="json")
    state.decommission.checklist_by = change.actor
    change.event("decommission_checklist_confirmed", checklist=state.decommission.checklist)
    gate = Gate(
        id=f"v{state.version}-decommission{state.transition_number + 1}-aims_owner",
        role="aims_owner",
        kind="decommission",
        version=state.version,
        state="pending",
    )
    state.gates.append(gate)
    _open_gate(change, gate)


# ------------------------------------------------------------ timers


def tick(state: UseCaseState, now: dt.datetime) -> tuple[UseCaseState, Transition] | None:
    """Advance SLA escalations and due re-reviews reached by `now`; None when nothing is due."""
    if state.status in TERMINAL:
        return None
    change = _Change(state, now, "system")
    current = change.state
    escalation = current.timing.gate_escalation
    sla = Duration.parse(current.timing.gate_sla)
    for gate in current.open_gates():
        assert gate.opened_at is not None
        points = (escalation.reminder_at, escalation.stalled_at, escalation.executive_at)
        while gate.escalation_level < 3 and now >= sla.fraction_after(gate.opened_at, points[gate.escalation_level]):
            gate.escalation_level += 1
            _escalate_gate(change, gate)
    if current.status == "in_production" and current.next_review_due and now >= current.next_review_due:
        _open_review(change, "periodic")
    review = current.review
    if review is not None and review.answer is None:
        steps = (Duration.parse(current.timing.review_sla), Duration.parse(current.timing.review_executive_after))
        while review.overdue_level < 2 and now >= steps[review.overdue_level].after(review.due_at):
            review.overdue_level += 1
            _escalate_review(change, review)
    if not change.events and not change.notices:
        return None
    return change.finish()


def next_deadline(state: UseCaseState) -> dt.datetime | None:
    """The earliest instant at which `tick` will have something to do."""
    if state.status in TERMINAL:
        return None
    candidates: list[dt.datetime] = []
    escalation = state.timing.gate_escalation
    points = (escalation.reminder_at, escalation.stalled_at, escalation.executive_at)
    sla = Duration.parse(state.timing.gate_sla)
    for gate in state.open_gates():
        if gate.escalation_level < 3 and gate.opened_at is not None:
            candidates.append(sla.fraction_after(gate.opened_at, points[gate.escalation_level]))
    if state.status == "in_production" and state.next_review_due:
        candidates.append(state.next_review_due)
    review = state.review
    if review is not None and review.answer is None and review.overdue_level < 2:
        steps = (state.timing.review_sla, state.timing.review_executive_after)
        candidates.append(Duration.parse(steps[review.overdue_level]).after(review.due_at))
    return min(candidates, default=None)


def _escalate_gate(change: _Change, gate: Gate) -> None:
    state = change.state
    level = gate.escalation_level
    kind, to_roles, label = {
        1: ("gate_reminder", [gate.role], "reminder"),
        2: ("gate_stalled", ["aims_owner"], "stalled"),
        3: ("gate_escalated", ["executive"], "escalated to executive"),
    }[level]
    change.event(kind, gate_id=gate.id, role=gate.role, level=level)
    change.notify(
        kind,  # type: ignore[arg-type]
        f"{state.name}: {gate.role} {gate.kind} gate {label} (due {gate.due_at:%Y-%m-%d %H:%M} UTC)",
        key=f"{gate.id}:{level}",
        to_roles=to_roles,
        exclude=[state.requester, state.business_owner] if level == 1 else [],
        gate_id=gate.id,
        data={"level": level, "role": gate.role, "due_at": gate.due_at.isoformat() if gate.due_at else None},
    )


def _escalate_review(change: _Change, review: ReviewCycle) -> None:
    state = change.state
    kind, roles = ("review_overdue", ["aims_owner"]) if review.overdue_level == 1 else ("review_escalated", ["executive"])
    change.event(kind, review=review.number, due_at=review.due_at.isoformat())
    change.notify(
        kind,  # type: ignore[arg-type]
        f"{state.name}: re-review {review.number} overdue since {review.due_at:%Y-%m-%d}",
        key=f"review{review.number}:{review.overdue_level}",
        to_roles=roles,
        to_emails=[state.business_owner],
        data={"due_at": review.due_at.isoformat()},
    )


# ------------------------------------------------------------ helpers


def _route_after_classification(change: _Change, *, has_assessment: bool) -> None:
    state = change.state
    category = state.classification.regulatory_category
    if category == "PROHIBITED":
        reasons = ", ".join(state.classification.category_reason)
        change.set_status("rejected", f"prohibited practice (EU AI Act Art. 5): {reasons}")
        change.notify(
            "rejected",
            f"{state.name} was rejected: prohibited practice",
            key="prohibited",
            to_roles=["aims_owner"],
            to_emails=[state.requester, state.business_owner],
            data={"reason": state.status_reason},
        )
    elif category == "LEGAL_HOLD":
        change.set_status("legal_hold", "prohibited-practice screen answered unsure; legal must revise the intake")
        change.notify(
            "legal_hold",
            f"{state.name} is on legal hold: resolve the prohibited-practice screen",
            key="legal_hold",
            to_roles=["legal"],
            to_emails=[state.requester],
        )
    elif has_assessment:
        _open_approval_gates(change)
    else:
        change.set_status("assessment", "waiting for the business owner's risk and impact assessment")
        change.notify(
            "assessment_requested",
            f"{state.name}: submit the risk and impact assessment",
            key="assessment",
            to_emails=[state.business_owner],
        )


def _open_approval_gates(change: _Change) -> None:
    state = change.state
    routing = state.routing
    assert routing.final_role is not None
    review = [
        Gate(id=f"v{state.version}-review-{role}", role=role, kind="review", version=state.version, state="pending")
        for role in routing.review_roles
    ]
    final = Gate(
        id=f"v{state.version}-final-{routing.final_role}",
        role=routing.final_role,
        kind="final",
        version=state.version,
        state="pending",
    )
    # Earlier versions' gates live on in the register and the audit trail, not in the state.
    state.gates = review + [final]
    change.set_status("in_review", "approval gates open")
    for gate in review or [final]:
        _open_gate(change, gate)


def _open_gate(change: _Change, gate: Gate) -> None:
    state = change.state
    gate.state = "open"
    gate.opened_at = change.now
    gate.due_at = Duration.parse(state.timing.gate_sla).after(change.now)
    change.event("gate_opened", gate_id=gate.id, role=gate.role, kind=gate.kind, due_at=gate.due_at.isoformat())
    change.notify(
        "gate_request",
        f"{state.name}: {gate.role} decision needed ({gate.kind} gate, due {gate.due_at:%Y-%m-%d %H:%M} UTC)",
        key=gate.id,
        to_roles=[gate.role],
        exclude=[state.requester, state.business_owner],
        gate_id=gate.id,
        data={"due_at": gate.due_at.isoformat(), "kind": gate.kind, "role": gate.role},
    )


def _supersede_open_gates(change: _Change) -> None:
    for gate in change.state.gates:
        if gate.state in ("open", "pending"):
            gate.state = "superseded"
            change.event("gate_superseded", gate_id=gate.id, role=gate.role)


def _next_review(state: UseCaseState, anchor: dt.datetime) -> dt.datetime:
    return state.timing.review_interval_for(state.classification.aims_tier).after(anchor)


def _require_business_owner(state: UseCaseState, actor: Actor, what: str) -> None:
    if actor.email != state.business_owner:
        raise Refused("forbidden", f"only the business owner ({state.business_owner}) may {what}")


_CHECKS: dict[type, Any] = {
    SubmitAssessment: _check_assessment,
    DecideGate: _check_decision,
    ReviseIntake: _check_revision,
    Revise: _check_revision,
    SignOffCommand: _check_signoff,
    SubmitReview: _check_review,
    ReportIncident: _check_incident,
    RequestDecommission: _check_decommission_request,
    ConfirmChecklist: _check_checklist,
}
_APPLY: dict[type, Any] = {
    SubmitAssessment: _apply_assessment,
    DecideGate: _apply_decision,
    Revise: _apply_revision,
    SignOffCommand: _apply_signoff,
    SubmitReview: _apply_review,
    ReportIncident: _apply_incident,
    RequestDecommission: _apply_decommission_request,
    ConfirmChecklist: _apply_checklist,
}
