"""The lifecycle of one AI use case as a pure state machine.

`start`, `apply` and `tick` take the current state and the current time and return the new
state with a `Transition`: the audit events and notices that the change produced. The
workflow persists each transition; nothing here does I/O or reads a clock, so the same
rules run in the workflow, in the API's pre-checks, in validators and in plain unit tests.
Who may act is decided in `permissions`; deadlines and their ladder in `deadlines`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from aims.domain import permissions
from aims.domain.change import Change
from aims.domain.classification import Classification
from aims.domain.commands import (
    Command,
    ConfirmChecklist,
    DecideGate,
    ReportIncident,
    RequestDecommission,
    Revise,
    ReviseIntake,
    SignOffDeployment,
    SubmitAssessment,
    SubmitReview,
    Withdraw,
)
from aims.domain.deadlines import escalate, gate_excluded, next_deadline, waiting
from aims.domain.durations import Duration
from aims.domain.intake import Intake, Operations
from aims.domain.policy import Timing
from aims.domain.state import (
    APPROVAL_KINDS,
    TERMINAL,
    Decommission,
    Gate,
    GateKind,
    Refused,
    ReviewCycle,
    ReviewTrigger,
    Routing,
    Transition,
    UseCaseState,
)

__all__ = ["apply", "check", "next_deadline", "remember_request", "start", "tick", "waiting"]

MAX_REMEMBERED_REQUESTS = 500


def start(
    *,
    use_case_id: str,
    intake: Intake,
    classification: Classification,
    routing: Routing,
    timing: Timing,
    requester: str,
    now: dt.datetime,
) -> tuple[UseCaseState, Transition]:
    state = UseCaseState(
        id=use_case_id,
        name=intake.name,
        requester=requester,
        business_owner=intake.business_owner,
        status="assessment",
        version=1,
        classification=classification,
        routing=routing,
        timing=timing,
        created_at=now,
        updated_at=now,
        conflicted=sorted({requester, intake.business_owner}),
        operations=intake.operations,
    )
    change = Change(state, now, requester, status_before="")
    change.event("intake_submitted", intake=intake.model_dump(mode="json"))
    change.event("classified", classification=classification.model_dump(mode="json"), routing=routing.model_dump())
    _route_after_classification(change)
    return change.finish()


def check(state: UseCaseState, command: Command) -> None:
    """Raise `Refused` when the command may not be applied now; changes nothing."""
    permissions.require_may_act(command.actor)
    permissions.require_open(state)
    _CHECKS[type(command)](state, command)


def apply(state: UseCaseState, command: Command, now: dt.datetime) -> tuple[UseCaseState, Transition]:
    check(state, command)
    change = Change(state, now, command.actor.email)
    _APPLY[type(command)](change, command)
    return change.finish()


def tick(state: UseCaseState, now: dt.datetime) -> tuple[UseCaseState, Transition] | None:
    """Open a due re-review and climb every deadline's ladder up to `now`; None when nothing is due."""
    if state.status in TERMINAL:
        return None
    change = Change(state, now, "system")
    current = change.state
    if current.status == "in_production" and current.next_review_due and now >= current.next_review_due:
        _open_review(change, "periodic")
    escalate(change)
    return change.finish() if change.changed() else None


def remember_request(state: UseCaseState, request_id: str) -> None:
    state.seen_requests.append(request_id)
    del state.seen_requests[:-MAX_REMEMBERED_REQUESTS]


# ------------------------------------------------------------ assessment


def _check_assessment(state: UseCaseState, command: SubmitAssessment) -> None:
    permissions.may_submit_assessment(state, command.actor)


def _apply_assessment(change: Change, command: SubmitAssessment) -> None:
    state = change.state
    state.assessed_version = state.version
    _add_conflicted(state, change.actor)
    change.event("assessment_submitted", assessment=command.assessment.model_dump(mode="json"))
    _open_approval_gates(change)


# ------------------------------------------------------------ gates


def _check_decision(state: UseCaseState, command: DecideGate) -> None:
    gate = permissions.may_decide(state, command.actor, command.gate_id, command.version)
    decision = command.body.decision
    if decision in ("reject", "request_changes") and not command.body.comment:
        raise Refused("invalid", f"comment: a {decision} decision needs a comment saying why")
    if decision == "reject" and gate.kind in ("continuation", "decommission"):
        raise Refused("invalid", f"decision: a {gate.kind} gate is approved or sent back with request_changes")
    if decision == "request_changes" and gate.kind == "incident_triage":
        raise Refused("invalid", "decision: approve a triage to suspend now, or reject it to keep running (say why)")


def _apply_decision(change: Change, command: DecideGate) -> None:
    state = change.state
    gate = state.gate(command.gate_id)
    assert gate is not None
    decision, comment = command.body.decision, command.body.comment
    gate.state = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}[decision]
    gate.decision = decision
    gate.decided_by, gate.decided_at = change.actor, change.now
    change.event(
        "gate_decided",
        gate_id=gate.id,
        role=gate.role,
        kind=gate.kind,
        decision=decision,
        comment=comment,
        gate_version=gate.version,
    )
    change.notify(
        "decision",
        f"{state.name}: {gate.role} {decision.replace('_', ' ')} ({gate.kind.replace('_', ' ')} gate)",
        key=gate.id,
        to_emails=[state.requester, state.business_owner],
        gate_id=gate.id,
        data={"decision": decision, "comment": comment, "decided_by": change.actor, "role": gate.role},
    )
    _AFTER_DECISION[gate.kind](change, gate, comment)


def _after_approval_decision(change: Change, gate: Gate, comment: str) -> None:
    state = change.state
    if gate.state == "rejected":
        _supersede_open_gates(change)
        change.set_status("rejected", f"rejected by {gate.role} ({change.actor}): {comment}")
        return
    if gate.state == "changes_requested":
        _supersede_open_gates(change, APPROVAL_KINDS)
        change.set_status("changes_requested", f"{gate.role} requested changes: {comment}")
        return
    current = state.approval_gates()
    if gate.kind == "review":
        if all(g.state == "approved" for g in current if g.kind == "review"):
            final = next(g for g in current if g.kind == "final")
            _open_gate(change, final)
        return
    if state.suspended:
        _clear_suspension(change, "re-approved")
    _await_signoff(change, "all approval gates approved; waiting for deployment sign-off")


def _after_continuation_decision(change: Change, gate: Gate, comment: str) -> None:
    state = change.state
    review = state.review
    assert review is not None
    if gate.state == "changes_requested":
        change.event("review_closed", review=review.number, outcome="revision")
        state.review = None
        change.set_status("changes_requested", f"re-review {review.number}: {gate.role} requested changes: {comment}")
        return
    change.event("review_completed", review=review.number)
    state.last_review_completed_at = change.now
    state.next_review_due = _next_review(state, change.now)
    state.reviews_completed += 1
    state.review = None
    state.cycle_closed = True
    if state.suspended:
        _clear_suspension(change, f"continuation confirmed at re-review {review.number}")
    if state.signed_off_now:
        change.set_status("in_production", "re-review completed; continuation confirmed")
    else:
        _await_signoff(change, "continuation confirmed; the current version still needs deployment sign-off")


def _after_decommission_decision(change: Change, gate: Gate, comment: str) -> None:
    state = change.state
    assert state.decommission is not None
    if gate.state == "changes_requested":
        state.decommission.checklist_by = None
        change.set_status("decommissioning", f"checklist sent back: {comment}")
        return
    _supersede_open_gates(change)
    state.next_review_due = None
    change.set_status("retired", "decommission confirmed by the AIMS owner")
    change.notify("retired", f"{state.name} is retired", key="retired", to_emails=[state.business_owner])


def _after_triage_decision(change: Change, gate: Gate, comment: str) -> None:
    suspend = gate.state == "approved"
    change.event("incident_triaged", incident=gate.incident, suspend=suspend, comment=comment)
    if suspend:
        _suspend(change, f"serious incident {gate.incident}, triaged by {change.actor}")


_AFTER_DECISION: dict[GateKind, Callable[[Change, Gate, str], None]] = {
    "review": _after_approval_decision,
    "final": _after_approval_decision,
    "continuation": _after_continuation_decision,
    "decommission": _after_decommission_decision,
    "incident_triage": _after_triage_decision,
}


# ------------------------------------------------------------ revision


def _check_revision(state: UseCaseState, command: ReviseIntake | Revise) -> None:
    permissions.may_revise(state, command.actor)


def _apply_revision(change: Change, command: Revise) -> None:
    state = change.state
    _supersede_open_gates(change, APPROVAL_KINDS | {"continuation"})
    if state.review is not None:
        change.event("review_closed", review=state.review.number, outcome="revision")
        state.review = None
    state.version += 1
    intake = command.intake
    state.name = intake.name
    state.business_owner = intake.business_owner
    _add_conflicted(state, change.actor, intake.business_owner)
    state.classification = command.classification
    state.routing = command.routing
    state.timing = command.timing
    state.operations = intake.operations
    change.event("intake_revised", intake=intake.model_dump(mode="json"), reason=command.reason)
    change.event(
        "classified", classification=command.classification.model_dump(mode="json"), routing=command.routing.model_dump()
    )
    _route_after_classification(change, revision=True)


# ------------------------------------------------------------ sign-off


def _check_signoff(state: UseCaseState, command: SignOffDeployment) -> None:
    permissions.may_sign_off(state, command.actor)
    missing = _merged_operations(state, command.body.operations).missing_for_signoff()
    if missing:
        raise Refused("invalid", "operations: required before sign-off: " + ", ".join(missing))
    resolutions = command.body.blocker_resolutions
    unresolved = [rule for rule in state.classification.signoff_blockers if rule not in resolutions]
    if unresolved:
        raise Refused(
            "conflict",
            "unresolved sign-off blockers: "
            + ", ".join(unresolved)
            + " (give blocker_resolutions with evidence_url and note, or revise the intake)",
        )
    unknown = set(resolutions) - set(state.classification.signoff_blockers)
    if unknown:
        raise Refused("invalid", f"blocker_resolutions: {', '.join(sorted(unknown))} did not fire for this version")


def _merged_operations(state: UseCaseState, given: Operations) -> Operations:
    merged = state.operations.model_dump()
    merged.update({key: value for key, value in given.model_dump().items() if value})
    return Operations.model_validate(merged)


def _apply_signoff(change: Change, command: SignOffDeployment) -> None:
    state = change.state
    state.operations = _merged_operations(state, command.body.operations)
    state.signed_off_version = state.version
    if state.in_production_since is None:
        state.in_production_since = change.now
    state.next_review_due = _next_review(state, change.now)
    signoff = command.body.model_dump(mode="json") | {"operations": state.operations.model_dump(mode="json")}
    change.event("signed_off", signoff=signoff, next_review_due=state.next_review_due.isoformat())
    change.set_status("in_production", "deployment signed off")


# ------------------------------------------------------------ re-review


def _check_review(state: UseCaseState, command: SubmitReview) -> None:
    permissions.may_review(state, command.actor)


def _apply_review(change: Change, command: SubmitReview) -> None:
    state = change.state
    if state.review is None:
        _open_review(change, "owner")
    review = state.review
    assert review is not None
    answer = command.body
    review.answered_by, review.proposal = change.actor, answer.proposal
    change.event("review_answered", review=review.number, answer=answer.model_dump(mode="json"))
    changed = answer.material_change.any_change()
    if answer.proposal == "decommission":
        _begin_decommission(change, f"re-review {review.number} proposed decommissioning")
    elif changed or answer.proposal == "reassess":
        why = f"material change: {', '.join(changed)}" if changed else "owner proposed reassessment"
        change.event("review_closed", review=review.number, outcome="revision")
        state.review = None
        change.set_status("changes_requested", f"re-review {review.number}: {why}; submit a revision")
    else:
        gate = Gate(
            id=f"v{state.version}-review{review.number}-aims_owner",
            role="aims_owner",
            kind="continuation",
            version=state.version,
            state="pending",
        )
        _add_gate(state, gate)
        _open_gate(change, gate)


def _open_review(change: Change, trigger: ReviewTrigger) -> None:
    state = change.state
    due = state.next_review_due if trigger == "periodic" and state.next_review_due else change.now
    state.reviews_opened = max(state.reviews_opened, state.reviews_completed) + 1
    state.review = ReviewCycle(number=state.reviews_opened, trigger=trigger, opened_at=change.now, due_at=due)
    change.event("review_opened", review=state.review.number, trigger=trigger, due_at=due.isoformat())
    change.set_status("suspended" if state.suspended else "under_review", f"{trigger} re-review open")
    change.notify(
        "review_due",
        f"{state.name}: re-review {state.review.number} is due ({trigger})",
        key=f"review{state.review.number}:{change.now.isoformat()}",
        to_emails=[state.business_owner],
    )


# ------------------------------------------------------------ incidents


def _check_incident(state: UseCaseState, command: ReportIncident) -> None:
    permissions.may_report_incident(state, command.actor)


def _apply_incident(change: Change, command: ReportIncident) -> None:
    state = change.state
    state.incidents += 1
    number, body = state.incidents, command.body
    change.event("incident_reported", number=number, **body.model_dump(mode="json"))
    audience = {
        "minor": [],
        "major": ["aims_owner"],
        "serious": ["aims_owner", "risk"],
    }[body.severity]
    change.notify(
        "incident",
        f"{state.name}: {body.severity} incident {number} reported",
        key=f"incident{number}",
        to_emails=[state.business_owner],
        to_roles=audience,
        data={"severity": body.severity, "description": body.description, "number": number},
    )
    if body.severity == "major" and state.review is None and state.status in ("in_production", "approved"):
        _open_review(change, "incident")
    elif body.severity == "serious":
        if permissions.may_suspend_at_once(state, command.actor):
            _suspend(change, f"serious incident {number} reported by {change.actor}")
        else:
            _open_triage(change, number)


def _open_triage(change: Change, incident: int) -> None:
    state = change.state
    stage_sla = state.timing.stage_sla
    gate = Gate(
        id=f"v{state.version}-incident{incident}-triage",
        role="aims_owner",
        kind="incident_triage",
        version=state.version,
        state="pending",
        incident=incident,
    )
    _add_gate(state, gate)
    sla = Duration.parse(stage_sla.incident_triage) if stage_sla else Duration.parse(state.timing.gate_sla)
    _open_gate(change, gate, sla)


def _suspend(change: Change, reason: str) -> None:
    """Switch the system off pending re-approval (P5). A revision in progress is that re-approval."""
    state = change.state
    if state.suspended:
        return
    state.suspended = True
    change.event("suspended", reason=reason)
    change.notify(
        "suspended",
        f"{state.name} is suspended: {reason}",
        key="suspended",
        to_emails=[state.business_owner],
        to_roles=["aims_owner", "executive"],
        broadcast=True,
        data={"reason": reason},
    )
    if state.status in ("in_production", "under_review", "approved"):
        if state.review is None:
            _open_review(change, "incident")
        change.set_status("suspended", reason)


def _clear_suspension(change: Change, why: str) -> None:
    change.state.suspended = False
    change.event("suspension_lifted", reason=why)


# ------------------------------------------------------------ decommission


def _check_decommission_request(state: UseCaseState, command: RequestDecommission) -> None:
    permissions.may_request_decommission(state, command.actor)


def _apply_decommission_request(change: Change, command: RequestDecommission) -> None:
    _begin_decommission(change, command.body.reason)


def _begin_decommission(change: Change, reason: str) -> None:
    state = change.state
    _supersede_open_gates(change, APPROVAL_KINDS | {"continuation"})
    if state.review is not None:
        if not state.review.answered:
            change.event("review_closed", review=state.review.number, outcome="decommission")
        state.review = None
    state.decommission = Decommission(requested_by=change.actor, requested_at=change.now)
    change.event("decommission_requested", reason=reason)
    change.set_status("decommissioning", reason)
    change.notify(
        "decommission_requested",
        f"{state.name}: decommission requested; confirm the checklist",
        key="decommission",
        to_emails=[state.business_owner],
        data={"reason": reason},
    )


# ------------------------------------------------------------ withdrawal


def _check_withdrawal(state: UseCaseState, command: Withdraw) -> None:
    permissions.may_withdraw(state, command.actor)


def _apply_withdrawal(change: Change, command: Withdraw) -> None:
    """Withdrawn before approval: every gate closes (their prompts are rewritten), nothing waits."""
    state = change.state
    waited_on = sorted({gate.role for gate in state.open_gates()})
    _supersede_open_gates(change)
    change.event("withdrawn", reason=command.body.reason)
    change.set_status("withdrawn", f"withdrawn by {change.actor}: {command.body.reason}")
    # The approvers it waited on hear that nothing waits for them any more (and their prompts change).
    change.notify(
        "withdrawn",
        f"{state.name} was withdrawn by {change.actor}",
        key="withdrawn",
        to_emails=sorted({state.requester, state.business_owner} - {change.actor}),
        to_roles=waited_on,
        exclude=sorted(state.conflicted),
        data={"reason": command.body.reason},
    )


def _check_checklist(state: UseCaseState, command: ConfirmChecklist) -> None:
    permissions.may_confirm_checklist(state, command.actor)
    unchecked = command.body.unchecked()
    if unchecked:
        raise Refused("invalid", "checklist: not done yet: " + ", ".join(unchecked))


def _apply_checklist(change: Change, command: ConfirmChecklist) -> None:
    state = change.state
    assert state.decommission is not None
    state.decommission.checklist_by = change.actor
    change.event("decommission_checklist_confirmed", checklist=command.body.model_dump(mode="json"))
    gate = Gate(
        id=f"v{state.version}-decommission{state.transition_number + 1}-aims_owner",
        role="aims_owner",
        kind="decommission",
        version=state.version,
        state="pending",
    )
    _add_gate(state, gate)
    _open_gate(change, gate)


# ------------------------------------------------------------ helpers


def _route_after_classification(change: Change, revision: bool = False) -> None:
    state = change.state
    category = state.classification.regulatory_category
    if category == "PROHIBITED":
        reasons = ", ".join(state.classification.category_reason)
        _supersede_open_gates(change)
        change.set_status("rejected", f"prohibited practice (EU AI Act Art. 5): {reasons}")
        change.notify(
            "rejected",
            f"{state.name} was rejected: prohibited practice",
            key="prohibited",
            to_roles=["aims_owner"],
            to_emails=[state.requester, state.business_owner],
            broadcast=True,
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
    elif revision and state.timing.generation < 2 and state.assessed_version is not None:
        # Generation 1 reused the first assessment for every version (kept for replay).
        _open_approval_gates(change)
    else:
        prefilled = " (the previous version's assessment is pre-filled)" if revision and state.assessed_version else ""
        change.set_status("assessment", "waiting for the business owner's risk and impact assessment" + prefilled)
        change.notify(
            "assessment_requested",
            f"{state.name}: submit the risk and impact assessment for version {state.version}{prefilled}",
            key="assessment",
            to_emails=[state.business_owner],
        )


def _open_approval_gates(change: Change) -> None:
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
    # Earlier versions' gates live on in the register and the audit trail; a triage stays open.
    state.gates = [g for g in state.gates if g.kind == "incident_triage" and g.state == "open"] + review + [final]
    change.set_status("in_review", "approval gates open")
    for gate in review or [final]:
        _open_gate(change, gate)


def _add_gate(state: UseCaseState, gate: Gate) -> None:
    """Add a gate, forgetting closed gates of its kind (they are in the register), so the state stays small."""
    state.gates = [g for g in state.gates if g.kind != gate.kind or g.state in ("open", "pending")] + [gate]


def _open_gate(change: Change, gate: Gate, sla: Duration | None = None) -> None:
    state = change.state
    gate.state = "open"
    gate.opened_at = change.now
    gate.due_at = (sla or Duration.parse(state.timing.gate_sla)).after(change.now)
    change.event("gate_opened", gate_id=gate.id, role=gate.role, kind=gate.kind, due_at=gate.due_at.isoformat())
    change.notify(
        "gate_request",
        f"{state.name}: {gate.role} decision needed ({gate.kind.replace('_', ' ')} gate, "
        f"due {gate.due_at:%Y-%m-%d %H:%M} UTC)",
        key=gate.id,
        to_roles=[gate.role],
        exclude=gate_excluded(state, gate),
        gate_id=gate.id,
        data={"due_at": gate.due_at.isoformat(), "kind": gate.kind, "role": gate.role},
    )


def _supersede_open_gates(change: Change, kinds: Iterable[str] | None = None) -> None:
    wanted = set(kinds) if kinds is not None else None
    for gate in change.state.gates:
        if gate.state in ("open", "pending") and (wanted is None or gate.kind in wanted):
            gate.state = "superseded"
            change.event("gate_superseded", gate_id=gate.id, role=gate.role)


def _await_signoff(change: Change, reason: str) -> None:
    state = change.state
    change.set_status("approved", reason)
    change.notify(
        "signoff_requested",
        f"{state.name} is approved: confirm operations and sign off deployment",
        key=f"signoff:v{state.version}",
        to_emails=[state.business_owner],
    )


def _next_review(state: UseCaseState, anchor: dt.datetime) -> dt.datetime:
    return state.timing.review_interval_for(state.classification.aims_tier).after(anchor)


def _add_conflicted(state: UseCaseState, *emails: str) -> None:
    state.conflicted = sorted(set(state.conflicted) | set(emails))


_CHECKS: dict[type, Callable[[UseCaseState, Any], None]] = {
    SubmitAssessment: _check_assessment,
    DecideGate: _check_decision,
    ReviseIntake: _check_revision,
    Revise: _check_revision,
    SignOffDeployment: _check_signoff,
    SubmitReview: _check_review,
    ReportIncident: _check_incident,
    RequestDecommission: _check_decommission_request,
    ConfirmChecklist: _check_checklist,
    Withdraw: _check_withdrawal,
}
_APPLY: dict[type, Callable[[Change, Any], None]] = {
    SubmitAssessment: _apply_assessment,
    DecideGate: _apply_decision,
    Revise: _apply_revision,
    SignOffDeployment: _apply_signoff,
    SubmitReview: _apply_review,
    ReportIncident: _apply_incident,
    RequestDecommission: _apply_decommission_request,
    ConfirmChecklist: _apply_checklist,
    Withdraw: _apply_withdrawal,
}
