"""Driving the pure lifecycle without Temporal: classification under the shipped policy,
commands by name, and a clock that ticks through every deadline like the workflow does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aims.domain import actions, lifecycle
from aims.domain.commands import (
    Command,
    ConfirmChecklist,
    DecideGate,
    ReportIncident,
    RequestDecommission,
    Revise,
    SignOffDeployment,
    SubmitAssessment,
    SubmitReview,
    Withdraw,
)
from aims.domain.intake import Intake
from aims.domain.policy import Policy
from aims.domain.messages import ClassifyResult
from aims.domain.state import Actor, Transition, UseCaseState
from aims.settings import load_policy
from tests.intakes import ASSESSMENT, CHECKLIST, OPERATIONS, REVIEW_CONTINUE

POLICY: Policy = load_policy(None)
T0 = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)


def classified(intake: dict[str, Any], policy: Policy = POLICY) -> dict[str, Any]:
    model = Intake.model_validate(intake)
    return {"intake": model, **dict(ClassifyResult.of(model, policy))}


def begin(intake: dict[str, Any], requester: str, now: dt.datetime = T0) -> tuple[UseCaseState, Transition]:
    return lifecycle.start(use_case_id="uc-1", requester=requester, now=now, **classified(intake))


def actor(email: str, *roles: str) -> Actor:
    return Actor(email=email, roles=sorted({"requester", *roles}))


def assess(who: Actor) -> SubmitAssessment:
    return SubmitAssessment(actor=who, assessment=actions.Assessment.model_validate(ASSESSMENT))


def decide(who: Actor, gate_id: str, decision: str = "approve", comment: str = "", version: int | None = None):
    body = actions.GateDecision(decision=decision, comment=comment)  # type: ignore[arg-type]
    return DecideGate(actor=who, gate_id=gate_id, body=body, version=version)


def revise(who: Actor, intake: dict[str, Any], reason: str = "revised") -> Revise:
    return Revise(actor=who, reason=reason, **classified(intake))


def sign_off(who: Actor, state: UseCaseState, resolve: bool = True, operations: bool = True) -> SignOffDeployment:
    resolutions = {
        rule: {"evidence_url": "https://wiki/evidence", "note": "resolved"}
        for rule in state.classification.signoff_blockers
        if resolve
    }
    body = {"operations": OPERATIONS if operations else {}, "controls_in_place": ["A.6.2.4"],
            "blocker_resolutions": resolutions}  # fmt: skip
    return SignOffDeployment(actor=who, body=actions.SignOff.model_validate(body))


def review(who: Actor, proposal: str = "continue", change: str | None = None) -> SubmitReview:
    answer = REVIEW_CONTINUE | {"proposal": proposal}
    if change:
        answer = answer | {"material_change": REVIEW_CONTINUE["material_change"] | {change: "yes"}}
    return SubmitReview(actor=who, body=actions.ReviewAnswer.model_validate(answer))


def incident(who: Actor, severity: str) -> ReportIncident:
    return ReportIncident(actor=who, body=actions.Incident(severity=severity, description=f"{severity} incident"))  # type: ignore[arg-type]


def decommission(who: Actor, reason: str = "Replaced") -> RequestDecommission:
    return RequestDecommission(actor=who, body=actions.DecommissionRequest(reason=reason))


def withdraw(who: Actor, reason: str = "No longer needed") -> Withdraw:
    return Withdraw(actor=who, body=actions.Withdrawal(reason=reason))


def checklist(who: Actor, complete: bool = True) -> ConfirmChecklist:
    body = CHECKLIST | ({} if complete else {"records_kept": False})
    return ConfirmChecklist(actor=who, body=actions.DecommissionChecklist.model_validate(body))


def run_clock(state: UseCaseState, until: dt.datetime) -> tuple[UseCaseState, list[Transition]]:
    """Tick at every deadline up to `until`, as the workflow's timers do."""
    transitions: list[Transition] = []
    while (deadline := lifecycle.next_deadline(state)) is not None and deadline <= until:
        ticked = lifecycle.tick(state, deadline)
        assert ticked is not None, f"next_deadline promised work at {deadline} but tick did nothing"
        state, transition = ticked
        transitions.append(transition)
    return state, transitions


def apply(state: UseCaseState, command: Command, now: dt.datetime = T0) -> tuple[UseCaseState, Transition]:
    return lifecycle.apply(state, command, now)


# ------------------------------------------------------------ a cast and a use case in every status

REQ = actor("req@example.com")
OWNER = actor("owner@example.com")
RISK = actor("risk@example.com", "risk")
SECURITY = actor("security@example.com", "security")
LEGAL = actor("legal@example.com", "legal")
EXEC = actor("exec@example.com", "executive")
AIMS = actor("aims@example.com", "aims_owner")
AIMS_2 = actor("aims2@example.com", "aims_owner")
OUTSIDER = actor("outsider@example.com")
DECIDERS = {"risk": RISK, "security": SECURITY, "legal": LEGAL, "executive": EXEC, "aims_owner": AIMS}


def approve_all(state: UseCaseState, now: dt.datetime = T0) -> UseCaseState:
    while state.status in ("in_review", "under_review", "suspended", "decommissioning") and state.open_gates():
        gate = state.open_gates()[0]
        state, _ = apply(state, decide(DECIDERS[gate.role], gate.id), now)
    return state


def in_status(status: str, intake: dict[str, Any] | None = None) -> UseCaseState:
    """The code assistant (T2: risk and security, then the AIMS owner) brought to `status`."""
    from tests.intakes import changed, code_assistant

    base = intake or code_assistant()
    if status == "legal_hold":
        return begin(changed(base, prohibited__manipulation="unsure"), REQ.email)[0]
    if status == "rejected":
        return begin(changed(base, prohibited__social_scoring="yes"), REQ.email)[0]
    state, _ = begin(base, REQ.email)
    if status == "assessment":
        return state
    if status == "withdrawn":
        return apply(state, withdraw(REQ))[0]
    state, _ = apply(state, assess(OWNER))
    if status == "in_review":
        return state
    if status == "changes_requested":
        return apply(state, decide(RISK, "v1-review-risk", "request_changes", "Pin the model"))[0]
    state = approve_all(state)
    if status == "approved":
        return state
    state, _ = apply(state, sign_off(OWNER, state))
    if status == "in_production":
        return state
    if status == "under_review":
        return run_clock(state, state.next_review_due)[0]  # type: ignore[arg-type]
    if status == "suspended":
        return apply(state, incident(OWNER, "serious"))[0]
    state, _ = apply(state, decommission(OWNER))
    if status == "decommissioning":
        return state
    state, _ = apply(state, checklist(OWNER))
    return approve_all(state)  # retired
