"""Who may do what to a use case now: one source for the workflow's validators, the API's
pre-checks, the web page's forms, Slack's buttons and the approvals queue.

Each `may_*` raises `Refused` (with the reason a person reads) or returns; `allowed_actions`
and `decidable_gates` ask them all for one actor.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aims.domain.state import (
    APPROVAL_KINDS,
    SUSPENDING_ROLES,
    TERMINAL,
    WITHDRAWABLE,
    Actor,
    Gate,
    Refused,
    UseCaseState,
)

GOVERNANCE_ROLES: frozenset[str] = frozenset(
    {"aims_owner", "risk", "privacy", "security", "legal", "executive", "admin"}
)
# Read everything, export, act on nothing (ISO/IEC 42001 auditors, internal or external).
READ_ONLY_ROLES: frozenset[str] = frozenset({"auditor"})
# Who sees the whole AIMS: the stalled view, the system trail, whole-AIMS evidence exports.
OVERSIGHT_ROLES: frozenset[str] = frozenset({"aims_owner", "admin", "auditor"})
_GATE_VERSION = re.compile(r"^v(\d+)-")


def require_may_act(actor: Actor) -> None:
    if READ_ONLY_ROLES & set(actor.roles):
        raise Refused("forbidden", "an auditor reads and exports; auditors take no action")


def require_open(state: UseCaseState) -> None:
    if state.status in TERMINAL:
        raise Refused("conflict", f"the use case is {state.status} and accepts no further changes")


def is_owner(state: UseCaseState, actor: Actor) -> bool:
    return actor.email == state.business_owner


def _require_owner(state: UseCaseState, actor: Actor, what: str) -> None:
    if not is_owner(state, actor):
        raise Refused("forbidden", f"only the business owner ({state.business_owner}) may {what}")


# ------------------------------------------------------------ gates


def find_gate(state: UseCaseState, gate_id: str) -> Gate:
    gate = state.gate(gate_id)
    if gate is not None:
        return gate
    match = _GATE_VERSION.match(gate_id)
    if match and int(match.group(1)) < state.version:
        raise Refused(
            "conflict", f"gate {gate_id} belongs to version {match.group(1)}, superseded by version {state.version}"
        )
    raise Refused("not_found", f"gate {gate_id!r} does not exist on this use case")


def may_decide(state: UseCaseState, actor: Actor, gate_id: str, version: int | None = None) -> Gate:
    """The gate, if this actor may decide it now (P1: never their own use case)."""
    require_open(state)
    gate = find_gate(state, gate_id)
    if version is not None and version != state.version:
        raise Refused(
            "conflict", f"stale: you looked at version {version}, the use case is now at version {state.version}"
        )
    if gate.state != "open":
        detail = f" ({gate.decision} by {gate.decided_by})" if gate.decided_by else ""
        raise Refused("conflict", f"gate {gate.id} is not open: it is {gate.state}{detail}")
    if gate.role not in actor.roles:
        raise Refused("forbidden", f"gate {gate.id} needs the {gate.role} role")
    if actor.email in state.conflicted:
        raise Refused(
            "forbidden",
            "you cannot decide a gate of a use case you requested, own or owned, assessed or revised "
            "(no self-approval)",
        )
    if state.timing.distinct_deciders and gate.kind in APPROVAL_KINDS:
        other = next(
            (g for g in state.approval_gates() if g.decided_by == actor.email and g.id != gate.id), None
        )
        if other is not None:
            raise Refused(
                "forbidden",
                f"you decided gate {other.id} of version {state.version}; another person decides {gate.id} "
                "(distinct deciders)",
            )
    return gate


def decidable_gates(state: UseCaseState, actor: Actor) -> list[Gate]:
    if READ_ONLY_ROLES & set(actor.roles):
        return []
    result = []
    for gate in state.open_gates():
        try:
            result.append(may_decide(state, actor, gate.id))
        except Refused:
            continue
    return result


# ------------------------------------------------------------ the other actions


def may_submit_assessment(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    if state.status != "assessment":
        raise Refused("conflict", f"no assessment is expected while the use case is {state.status}")
    _require_owner(state, actor, "submit the assessment")


def may_revise(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    if state.status == "legal_hold":
        if "legal" not in actor.roles:
            raise Refused("forbidden", "a use case on legal hold is revised by the legal role")
        return
    if state.status == "decommissioning":
        raise Refused("conflict", "the use case is being decommissioned")
    if actor.email not in (state.requester, state.business_owner):
        raise Refused("forbidden", "only the requester or the business owner may revise the intake")


def may_sign_off(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    _require_owner(state, actor, "sign off deployment")
    if state.status != "approved":
        raise Refused("conflict", f"deployment sign-off needs status approved, not {state.status}")


def may_review(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    _require_owner(state, actor, "answer the re-review")
    review = state.review
    if review is None and state.status != "in_production":
        raise Refused("conflict", f"no re-review is open while the use case is {state.status}")
    if review is not None and review.answered:
        raise Refused("conflict", "this re-review is already answered; the AIMS owner confirms continuation")


def may_report_incident(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    if not state.ever_signed_off:
        raise Refused(
            "conflict", "incidents are reported on use cases that have been deployed (signed off at least once)"
        )


def may_suspend_at_once(state: UseCaseState, actor: Actor) -> bool:
    """A serious incident from these people suspends at once; from anyone else it is triaged (P5)."""
    return is_owner(state, actor) or bool(SUSPENDING_ROLES & set(actor.roles))


def may_request_decommission(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    if state.status == "decommissioning":
        raise Refused("conflict", "the use case is being decommissioned already")
    if not state.ever_signed_off:
        raise Refused("conflict", "a use case that was never deployed is not decommissioned")
    if actor.email not in (state.requester, state.business_owner) and "aims_owner" not in actor.roles:
        raise Refused("forbidden", "decommission is requested by the business owner, the requester or the AIMS owner")


def may_confirm_checklist(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    if state.status != "decommissioning" or state.decommission is None:
        raise Refused("conflict", f"no decommission is in progress (status {state.status})")
    if state.decommission.checklist_by is not None:
        raise Refused("conflict", "the checklist is confirmed; the AIMS owner decides the decommission gate")
    _require_owner(state, actor, "confirm the decommission checklist")


def may_withdraw(state: UseCaseState, actor: Actor) -> None:
    require_open(state)
    if state.ever_signed_off:
        raise Refused("conflict", "a deployed system is decommissioned, not withdrawn")
    if state.status not in WITHDRAWABLE:
        raise Refused("conflict", f"a use case is withdrawn before its approval; it is {state.status}")
    if actor.email not in (state.requester, state.business_owner):
        raise Refused("forbidden", "the requester or the business owner withdraws a use case")


ACTIONS: dict[str, Callable[[UseCaseState, Actor], None]] = {
    "assessment": may_submit_assessment,
    "revise": may_revise,
    "sign_off": may_sign_off,
    "review": may_review,
    "incident": may_report_incident,
    "decommission": may_request_decommission,
    "checklist": may_confirm_checklist,
    "withdraw": may_withdraw,
}


def allowed_actions(state: UseCaseState, actor: Actor) -> set[str]:
    """The actions (besides deciding gates: see `decidable_gates`) this actor may take now."""
    if READ_ONLY_ROLES & set(actor.roles):
        return set()
    allowed = set()
    for name, may in ACTIONS.items():
        try:
            may(state, actor)
        except Refused:
            continue
        allowed.add(name)
    return allowed


# ------------------------------------------------------------ reading


def involved(state: UseCaseState, email: str) -> bool:
    """Requester, a business owner of any version, an assessment or revision author, or a decider."""
    return email in state.conflicted or any(g.decided_by == email for g in state.gates)


def may_read_detail(state: UseCaseState, actor: Actor, visibility: str, deciders: set[str] = frozenset()) -> bool:
    """Full detail is for those involved and the governance roles, unless the policy opens it."""
    return (
        visibility == "organisation"
        or bool((GOVERNANCE_ROLES | READ_ONLY_ROLES) & set(actor.roles))
        or involved(state, actor.email)
        or actor.email in deciders
    )
