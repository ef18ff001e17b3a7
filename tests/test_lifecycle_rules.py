"""The pure lifecycle, table by table: who may do what in which status, what each action does,
and a regression test for each defect found by the property test or by reading."""

from __future__ import annotations

import datetime as dt

import pytest

from aims.domain import lifecycle, permissions
from aims.domain.commands import Command
from aims.domain.state import Escalation, Refused, UseCaseState
from tests import domain_kit as kit
from tests.domain_kit import AIMS, AIMS_2, EXEC, LEGAL, OUTSIDER, OWNER, REQ, RISK, SECURITY, T0, actor
from tests.intakes import changed, code_assistant, invoice_ocr

STATUSES = ["assessment", "in_review", "changes_requested", "legal_hold", "approved", "in_production",
            "under_review", "suspended", "rejected", "decommissioning", "retired", "withdrawn"]  # fmt: skip
DEPLOYED = {"revise", "incident", "decommission"}


def test_the_statuses_are_the_contracts_and_notice_kinds_are_not_statuses():
    """A slip once added the governance notice kinds to the statuses (found by `duplicates`)."""
    from aims.domain.state import STATUSES as DOMAIN_STATUSES

    assert list(DOMAIN_STATUSES) == STATUSES
# status -> actor -> the actions `allowed_actions` offers (gate decisions are tabled below).
ALLOWED: dict[str, dict[str, set[str]]] = {
    "assessment": {"req": {"revise", "withdraw"}, "owner": {"assessment", "revise", "withdraw"}, "aims": set(),
                   "legal": set(), "outsider": set()},
    "in_review": {"req": {"revise", "withdraw"}, "owner": {"revise", "withdraw"}, "aims": set(), "legal": set(),
                  "outsider": set()},
    "changes_requested": {"req": {"revise", "withdraw"}, "owner": {"revise", "withdraw"}, "aims": set(),
                          "legal": set(), "outsider": set()},
    "legal_hold": {"req": {"withdraw"}, "owner": {"withdraw"}, "aims": set(), "legal": {"revise"}, "outsider": set()},
    "approved": {"req": {"revise"}, "owner": {"revise", "sign_off"}, "aims": set(), "legal": set(), "outsider": set()},
    "in_production": {"req": DEPLOYED, "owner": DEPLOYED | {"review"}, "aims": {"incident", "decommission"},
                      "legal": {"incident"}, "outsider": {"incident"}},
    "under_review": {"req": DEPLOYED, "owner": DEPLOYED | {"review"}, "aims": {"incident", "decommission"},
                     "legal": {"incident"}, "outsider": {"incident"}},
    "suspended": {"req": DEPLOYED, "owner": DEPLOYED | {"review"}, "aims": {"incident", "decommission"},
                  "legal": {"incident"}, "outsider": {"incident"}},
    "decommissioning": {"req": {"incident"}, "owner": {"incident", "checklist"}, "aims": {"incident"},
                        "legal": {"incident"}, "outsider": {"incident"}},
    "rejected": {who: set() for who in ("req", "owner", "aims", "legal", "outsider")},
    "retired": {who: set() for who in ("req", "owner", "aims", "legal", "outsider")},
    "withdrawn": {who: set() for who in ("req", "owner", "aims", "legal", "outsider")},
}  # fmt: skip
ACTORS = {"req": REQ, "owner": OWNER, "aims": AIMS, "legal": LEGAL, "outsider": OUTSIDER}
DECIDABLE = {
    "in_review": {"risk": RISK, "security": SECURITY},
    "under_review": {},
    "suspended": {},
}


def command_for(action: str, who, state: UseCaseState) -> Command:
    return {
        "assessment": lambda: kit.assess(who),
        "revise": lambda: kit.revise(who, code_assistant()),
        "sign_off": lambda: kit.sign_off(who, state),
        "review": lambda: kit.review(who),
        "incident": lambda: kit.incident(who, "minor"),
        "decommission": lambda: kit.decommission(who),
        "checklist": lambda: kit.checklist(who),
        "withdraw": lambda: kit.withdraw(who),
    }[action]()


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("who", sorted(ACTORS))
def test_who_may_do_what_in_each_status(status: str, who: str):
    state = kit.in_status(status)
    assert state.status == status
    person = ACTORS[who]
    assert permissions.allowed_actions(state, person) == ALLOWED[status][who]
    # The offer and the check agree: an action offered is accepted, one not offered is refused.
    for action in permissions.ACTIONS:
        command = command_for(action, person, state)
        if action in ALLOWED[status][who]:
            lifecycle.check(state, command)
        else:
            with pytest.raises(Refused) as refusal:
                lifecycle.check(state, command)
            assert refusal.value.code in ("forbidden", "conflict")


@pytest.mark.parametrize("status", STATUSES)
def test_who_may_decide_which_gate(status: str):
    state = kit.in_status(status)
    expected = {person.email: gate for gate, person in _decidable(state).items()}
    for person in (REQ, OWNER, RISK, SECURITY, LEGAL, EXEC, AIMS, OUTSIDER):
        gates = {gate.id for gate in permissions.decidable_gates(state, person)}
        assert gates == ({expected[person.email]} if person.email in expected else set()), person.email


def _decidable(state: UseCaseState) -> dict[str, object]:
    if state.status == "in_review":
        return {"v1-review-risk": RISK, "v1-review-security": SECURITY}
    return {}


# ------------------------------------------------------------ P1 no self-approval


def test_a_handover_does_not_let_the_former_owner_approve():
    """The defect: an owner holding risk, security and aims_owner revised the intake to name
    someone else as owner, then decided every gate of the new version alone."""
    dual = actor("dual@example.com", "risk", "security", "aims_owner")
    state, _ = kit.begin(code_assistant("dual@example.com"), REQ.email)
    state, _ = kit.apply(state, kit.revise(dual, code_assistant(OWNER.email)))
    state, _ = kit.apply(state, kit.assess(OWNER))
    for gate in state.open_gates():
        with pytest.raises(Refused) as refusal:
            lifecycle.check(state, kit.decide(dual, gate.id))
        assert refusal.value.code == "forbidden" and "no self-approval" in refusal.value.message
    assert not permissions.decidable_gates(state, dual)


def test_one_person_decides_at_most_one_gate_of_a_version():
    both = actor("both@example.com", "risk", "security")
    state = kit.in_status("in_review")
    state, _ = kit.apply(state, kit.decide(both, "v1-review-risk"))
    with pytest.raises(Refused, match="distinct deciders"):
        lifecycle.check(state, kit.decide(both, "v1-review-security"))
    # Next version, they may decide again.
    state, _ = kit.apply(state, kit.revise(REQ, code_assistant()))
    state, _ = kit.apply(state, kit.assess(OWNER))
    kit.apply(state, kit.decide(both, "v2-review-security"))


def test_the_assessment_author_and_the_revision_author_are_conflicted():
    state = kit.in_status("in_review")
    assert OWNER.email in state.conflicted
    state, _ = kit.apply(state, kit.revise(REQ, code_assistant("risk@example.com")))
    assert {"req@example.com", "owner@example.com", "risk@example.com"} <= set(state.conflicted)


# ------------------------------------------------------------ P2 nothing waits silently


@pytest.mark.parametrize(
    ("status", "sla", "who"),
    [
        ("assessment", dt.timedelta(days=10), {"owner@example.com"}),
        ("changes_requested", dt.timedelta(days=10), {"req@example.com", "owner@example.com"}),
        ("legal_hold", dt.timedelta(days=10), {"legal"}),
        ("approved", dt.timedelta(days=30), {"owner@example.com"}),
        ("suspended", dt.timedelta(days=5), {"aims_owner"}),
        ("decommissioning", dt.timedelta(days=30), {"owner@example.com"}),
    ],
)
def test_every_waiting_status_climbs_the_ladder(status: str, sla: dt.timedelta, who: set[str]):
    state = kit.in_status(status)
    assert state.stage is not None and state.stage.due_at - state.stage.since == sla
    state, half = kit.run_clock(state, T0 + sla / 2)
    reminder = [n for t in half for n in t.notices if n.kind == "stage_reminder"]
    assert reminder and set(reminder[0].to_roles) | set(reminder[0].to_emails) == who
    state, late = kit.run_clock(state, T0 + sla)
    stalled = [n for t in late for n in t.notices if n.kind == "stage_stalled"]
    assert stalled and stalled[0].to_roles == ["aims_owner"]
    state, very_late = kit.run_clock(state, T0 + sla * 2)
    assert [n for t in very_late for n in t.notices if n.kind == "stage_escalated" and n.to_roles == ["executive"]]
    assert state.stage is not None and state.stage.escalation_level == Escalation.EXECUTIVE
    assert state.status == status  # the clock never decides


def test_a_reassessment_has_a_deadline_and_escalates():
    """The defect: a due review answered `reassess` left the use case with no deadline."""
    state = kit.in_status("under_review")
    state, _ = kit.apply(state, kit.review(OWNER, "reassess"), state.updated_at)
    assert state.status == "changes_requested" and state.stage is not None
    assert lifecycle.next_deadline(state) == state.stage.since + (state.stage.due_at - state.stage.since) / 2
    state, transitions = kit.run_clock(state, state.stage.due_at)
    assert "stage_stalled" in {n.kind for t in transitions for n in t.notices}


def test_a_continuation_sent_back_goes_to_revision_with_a_deadline():
    state = kit.in_status("under_review")
    state, _ = kit.apply(state, kit.review(OWNER))
    gate = state.open_gates()[0]
    state, _ = kit.apply(state, kit.decide(AIMS, gate.id, "request_changes", "KPIs degraded"))
    assert state.status == "changes_requested" and state.stage is not None and state.review is None


def test_a_re_review_answer_is_reminded_then_overdue_then_escalated():
    state = kit.in_status("under_review")
    assert state.review is not None
    due = state.review.due_at
    state, transitions = kit.run_clock(state, due + dt.timedelta(days=31))
    kinds = [n.kind for t in transitions for n in t.notices]
    assert kinds == ["review_reminder", "review_overdue", "review_escalated"]
    overdue = next(n for t in transitions for n in t.notices if n.kind == "review_overdue")
    assert overdue.to_roles == ["aims_owner"] and overdue.to_emails == [OWNER.email]


def test_a_gate_is_reminded_only_to_those_who_may_decide_it():
    """Recipients with two roles: the requester also holds risk, the owner also holds security;
    neither is reminded of (or prompted for) a gate of their own use case."""
    state, _ = kit.begin(code_assistant(), "risk@example.com")
    state, transition = kit.apply(state, kit.assess(OWNER))
    prompts = {n.gate_id: n for n in transition.notices if n.kind == "gate_request"}
    assert "risk@example.com" in prompts["v1-review-risk"].exclude
    assert "owner@example.com" in prompts["v1-review-security"].exclude
    state, transitions = kit.run_clock(state, T0 + dt.timedelta(days=3))
    reminders = [n for t in transitions for n in t.notices if n.kind == "gate_reminder"]
    assert {n.gate_id for n in reminders} == {"v1-review-risk", "v1-review-security"}
    assert all({"risk@example.com", "owner@example.com"} <= set(n.exclude) for n in reminders)


def test_the_clock_never_approves_anything():
    state = kit.in_status("in_review")
    state, _ = kit.run_clock(state, T0 + dt.timedelta(days=400))
    assert state.status == "in_review" and {g.state for g in state.approval_gates()} == {"open", "pending"}


# ------------------------------------------------------------ P3 each version on its own


def test_a_revision_goes_back_to_assessment_with_the_previous_one_to_resubmit():
    state = kit.in_status("in_review")
    state, transition = kit.apply(state, kit.revise(REQ, changed(code_assistant(), purpose="Pinned")))
    assert (state.status, state.version, state.assessed_version) == ("assessment", 2, 1)
    assert {g.state for g in state.gates} == {"superseded"}
    assert "pre-filled" in transition.notices[-1].subject
    with pytest.raises(Refused) as refusal:
        lifecycle.check(state, kit.decide(RISK, "v1-review-risk"))
    assert refusal.value.code == "conflict"
    state, _ = kit.apply(state, kit.assess(OWNER))
    assert state.assessed_version == 2 and [g.id for g in state.open_gates()] == ["v2-review-risk", "v2-review-security"]


def test_a_revision_forgets_the_old_sign_off():
    state = kit.in_status("in_production")
    state, _ = kit.apply(state, kit.revise(OWNER, changed(code_assistant(), purpose="More")))
    assert not state.signed_off_now and state.signed_off_version == 1
    assert state.unresolved_blockers() == state.classification.signoff_blockers


def test_a_decision_on_an_older_version_is_stale():
    state = kit.in_status("in_review")
    with pytest.raises(Refused, match="stale"):
        lifecycle.check(state, kit.decide(RISK, "v1-review-risk", version=7))


# ------------------------------------------------------------ P4 a deployed system always has a next review


def test_sign_off_keeps_the_first_production_date_and_schedules_the_next_review():
    state = kit.in_status("in_production")
    first = state.in_production_since
    later = T0 + dt.timedelta(days=20)
    state, _ = kit.apply(state, kit.revise(OWNER, changed(code_assistant(), purpose="More")), later)
    state, _ = kit.apply(state, kit.assess(OWNER), later)
    state = kit.approve_all(state, later)
    state, _ = kit.apply(state, kit.sign_off(OWNER, state), later)
    assert state.in_production_since == first
    assert state.next_review_due == dt.datetime(2027, 4, 24, 9, tzinfo=dt.UTC)  # three months after this sign-off


def test_a_periodic_review_opens_only_in_production():
    state = kit.in_status("in_production")
    state, _ = kit.apply(state, kit.revise(OWNER, changed(code_assistant(), purpose="More")))
    assert state.next_review_due is not None
    state, transitions = kit.run_clock(state, state.next_review_due + dt.timedelta(days=1))
    assert state.status == "assessment" and state.review is None
    assert not [e for t in transitions for e in t.events if e.type == "review_opened"]


def test_a_retired_use_case_has_no_next_review_and_no_open_gate():
    state = kit.in_status("retired")
    assert state.next_review_due is None and not state.open_gates()
    assert lifecycle.tick(state, T0 + dt.timedelta(days=999)) is None


def test_decommissioning_closes_every_approval_and_continuation_gate():
    state = kit.in_status("under_review")
    state, _ = kit.apply(state, kit.review(OWNER))
    assert state.open_gates()
    state, _ = kit.apply(state, kit.decommission(OWNER))
    assert state.status == "decommissioning" and not state.open_gates() and state.review is None


def test_a_review_proposing_decommission_starts_it():
    state = kit.in_status("under_review")
    state, _ = kit.apply(state, kit.review(OWNER, "decommission"))
    assert state.status == "decommissioning" and state.decommission is not None


def test_a_checklist_sent_back_is_confirmed_again():
    state = kit.in_status("decommissioning")
    state, _ = kit.apply(state, kit.checklist(OWNER))
    gate = state.open_gates()[0]
    state, _ = kit.apply(state, kit.decide(AIMS, gate.id, "request_changes", "Data not deleted yet"))
    assert state.status == "decommissioning" and state.decommission.checklist_by is None  # type: ignore[union-attr]
    state, _ = kit.apply(state, kit.checklist(OWNER))
    assert [g.kind for g in state.open_gates()] == ["decommission"]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (lambda: kit.revise(OWNER, code_assistant()), "conflict"),
        (lambda: kit.decommission(OWNER), "conflict"),
        (lambda: kit.review(OWNER), "conflict"),
        (lambda: kit.checklist(REQ), "forbidden"),
        (lambda: kit.checklist(OWNER, complete=False), "invalid"),
    ],
)
def test_refusals_while_decommissioning(command, code: str):
    with pytest.raises(Refused) as refusal:
        lifecycle.check(kit.in_status("decommissioning"), command())
    assert refusal.value.code == code


@pytest.mark.parametrize(
    ("who", "code"),
    [(REQ, "forbidden"), (RISK, "forbidden"), (AIMS, "forbidden")],
)
def test_only_the_business_owner_answers_a_review_or_submits_the_assessment(who, code: str):
    with pytest.raises(Refused) as refusal:
        lifecycle.check(kit.in_status("under_review"), kit.review(who))
    assert refusal.value.code == code
    with pytest.raises(Refused) as refusal:
        lifecycle.check(kit.in_status("assessment"), kit.assess(who))
    assert refusal.value.code == code


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_a_reject_or_request_for_changes_needs_a_comment(decision: str):
    with pytest.raises(Refused) as refusal:
        lifecycle.check(kit.in_status("in_review"), kit.decide(RISK, "v1-review-risk", decision))
    assert refusal.value.code == "invalid" and "comment" in refusal.value.message


def test_a_review_is_answered_once():
    state = kit.in_status("under_review")
    state, _ = kit.apply(state, kit.review(OWNER))
    with pytest.raises(Refused, match="already answered"):
        lifecycle.check(state, kit.review(OWNER))


# ------------------------------------------------------------ P5 incidents


@pytest.mark.parametrize("status", ["in_review", "changes_requested", "assessment", "decommissioning", "approved"])
def test_incidents_are_accepted_at_any_status_once_deployed(status: str):
    state = kit.in_status("in_production")
    if status == "decommissioning":
        state, _ = kit.apply(state, kit.decommission(OWNER))
    else:
        state, _ = kit.apply(state, kit.revise(OWNER, changed(code_assistant(), purpose="More")))
        if status != "assessment":
            state, _ = kit.apply(state, kit.assess(OWNER))
        if status == "changes_requested":
            state, _ = kit.apply(state, kit.decide(RISK, "v2-review-risk", "request_changes", "why"))
        if status == "approved":
            state = kit.approve_all(state)
    assert state.status == status
    state, _ = kit.apply(state, kit.incident(OUTSIDER, "minor"))
    assert state.incidents == 1


def test_an_incident_before_the_first_sign_off_is_refused():
    with pytest.raises(Refused, match="signed off at least once"):
        lifecycle.check(kit.in_status("approved"), kit.incident(OWNER, "minor"))


@pytest.mark.parametrize(
    ("severity", "audience"),
    [("minor", set()), ("major", {"aims_owner"}), ("serious", {"aims_owner", "risk"})],
)
def test_who_hears_of_an_incident(severity: str, audience: set[str]):
    state, transition = kit.apply(kit.in_status("in_production"), kit.incident(OUTSIDER, severity))
    notice = next(n for n in transition.notices if n.kind == "incident")
    assert set(notice.to_roles) == audience and notice.to_emails == [OWNER.email]
    assert "executive" not in {role for n in transition.notices for role in n.to_roles}


@pytest.mark.parametrize("who", [OWNER, AIMS, RISK, EXEC])
def test_a_serious_incident_from_the_owner_or_a_governance_lead_suspends_at_once(who):
    state, transition = kit.apply(kit.in_status("in_production"), kit.incident(who, "serious"))
    assert state.status == "suspended" and state.suspended and state.review is not None
    assert any(n.kind == "suspended" and "executive" in n.to_roles for n in transition.notices)


@pytest.mark.parametrize("who", [OUTSIDER, REQ, SECURITY, LEGAL])
def test_a_serious_incident_from_anyone_else_is_triaged_first(who):
    """The defect: any signed-in requester could suspend production on their own."""
    state, transition = kit.apply(kit.in_status("in_production"), kit.incident(who, "serious"))
    assert state.status == "in_production" and not state.suspended
    triage = state.open_gates()
    assert [(g.kind, g.role) for g in triage] == [("incident_triage", "aims_owner")]
    assert triage[0].due_at - triage[0].opened_at == dt.timedelta(days=1)  # type: ignore[operator]
    with pytest.raises(Refused, match="approve a triage"):
        lifecycle.check(state, kit.decide(AIMS, triage[0].id, "request_changes", "?"))
    kept, _ = kit.apply(state, kit.decide(AIMS, triage[0].id, "reject", "Not reproducible"))
    assert kept.status == "in_production" and not kept.open_gates()
    suspended, _ = kit.apply(state, kit.decide(AIMS, triage[0].id))
    assert suspended.status == "suspended" and suspended.suspended


def test_a_suspension_is_lifted_by_re_approval_and_never_comes_back():
    """The defect: a suspension was never cleared, so the next periodic review reopened as suspended."""
    state = kit.in_status("suspended")
    state, _ = kit.apply(state, kit.review(OWNER))
    state, _ = kit.apply(state, kit.decide(AIMS, state.open_gates()[0].id))
    assert state.status == "in_production" and not state.suspended
    state, _ = kit.run_clock(state, state.next_review_due)  # type: ignore[arg-type]
    assert state.status == "under_review"


def test_a_suspended_system_re_approved_through_a_revision():
    state = kit.in_status("suspended")
    state, _ = kit.apply(state, kit.revise(OWNER, changed(code_assistant(), purpose="Fixed")))
    assert state.suspended and state.status == "assessment"
    state, _ = kit.apply(state, kit.assess(OWNER))
    state = kit.approve_all(state)
    assert state.status == "approved" and not state.suspended
    state, _ = kit.apply(state, kit.sign_off(OWNER, state))
    assert state.status == "in_production"


# ------------------------------------------------------------ P8 final statuses


@pytest.mark.parametrize("status", ["rejected", "retired"])
def test_final_statuses_accept_nothing(status: str):
    state = kit.in_status(status)
    for person in (REQ, OWNER, AIMS, AIMS_2):
        for action in permissions.ACTIONS:
            with pytest.raises(Refused, match=status):
                lifecycle.check(state, command_for(action, person, state))


def test_a_prohibited_revision_rejects_and_closes_every_gate():
    state = kit.in_status("in_review")
    state, _ = kit.apply(state, kit.revise(REQ, changed(invoice_ocr(), prohibited__social_scoring="yes")))
    assert state.status == "rejected" and not state.open_gates()


# ------------------------------------------------------------ withdrawal (before approval)


def test_a_withdrawal_closes_every_gate_and_ends_the_use_case():
    state = kit.in_status("in_review")
    after, transition = kit.apply(state, kit.withdraw(OWNER, "Bought a product instead"))
    assert after.status == "withdrawn" and not after.open_gates() and after.stage is None
    waiting = [gate for gate in state.gates if gate.state in ("open", "pending")]  # the final gate waits too
    assert [e.type for e in transition.events].count("gate_superseded") == len(waiting) == 3
    assert "withdrawn" in [e.type for e in transition.events]
    assert [(n.kind, n.to_emails, n.to_roles) for n in transition.notices] == [
        ("withdrawn", [REQ.email], ["risk", "security"])
    ]
    assert lifecycle.tick(after, T0 + dt.timedelta(days=400)) is None  # nothing waits, nothing is due


def test_a_deployed_system_under_revision_is_not_withdrawn():
    state = kit.in_status("in_production")
    revising, _ = kit.apply(state, kit.revise(OWNER, code_assistant()))
    assert revising.status == "assessment"
    with pytest.raises(Refused, match="decommissioned, not withdrawn"):
        lifecycle.check(revising, kit.withdraw(OWNER))
