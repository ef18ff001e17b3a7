"""Promises P1–P8 (contract §4) hold after every step of any sequence of actions.

A Hypothesis state machine drives the pure lifecycle with random commands by random people
holding random roles (the requester, current and former owners among them), random revisions,
incidents of each severity, reviews with each proposal and random jumps of the clock. After
every step it checks the promises against an oracle it keeps itself: who requested, owned,
assessed, revised and decided what, and when.

`make test` runs the default profile; `make test-deep` (HYPOTHESIS_PROFILE=deep) runs 20x
more examples.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aims.domain import lifecycle
from aims.domain.bounds import DOCUMENT_MAX_BYTES
from aims.domain.commands import Command, DecideGate, ReportIncident, Revise, SubmitAssessment, SubmitReview
from aims.domain.deadlines import gate_excluded, waiting
from aims.domain.permissions import SUSPENDING_ROLES
from aims.domain.state import APPROVAL_KINDS, TERMINAL, Escalation, Refused, UseCaseState
from tests import domain_kit as kit
from tests.intakes import changed, code_assistant, invoice_ocr

settings.register_profile(
    "default", max_examples=500, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile(
    "deep", max_examples=10000, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
# `make mutation`: fewer, fixed examples per mutant (reproducible kills).
settings.register_profile(
    "mutation", max_examples=60, stateful_step_count=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PEOPLE = [f"{name}@example.com" for name in ("ana", "bo", "cy", "di", "ed", "fay", "gus", "hal")]
GOVERNANCE = ["aims_owner", "risk", "privacy", "security", "legal", "executive"]
ROLE_SETS = st.lists(st.sampled_from(GOVERNANCE), unique=True, min_size=1, max_size=4)
# Who acts: anyone, or the person a step needs ("owner", "requester", "eligible" for a gate, a
# role holder), so that random runs reach production, reviews and retirement, not only refusals;
# and "involved", someone P1 excludes, so that self-approval is tried on purpose.
ANYONE = st.sampled_from(PEOPLE)
OWNER_MOSTLY = st.sampled_from(["owner", "owner", "owner", "requester", *PEOPLE])
DECIDER = st.sampled_from(["eligible"] * 8 + ["involved"] * 2 + ["owner", "requester", *PEOPLE])
REVISER = st.sampled_from(["requester", "owner", "legal", *PEOPLE])


def t3_screener(owner: str) -> dict[str, Any]:
    return changed(
        code_assistant(owner), name="CV screener", high_risk__annex_iii_uses=["iii_4a"],
        people__decision_role="recommendation_to_human", people__decision_effect="significant",
        data__personal_data=["ordinary_personal"], security__event_logging="no",
    )  # fmt: skip


INTAKE_KINDS = st.sampled_from(["t1", "t1", "t2", "t2", "t3", "t3", "prohibited", "legal_hold"])
INTAKES = {
    "t1": invoice_ocr,
    "t2": code_assistant,
    "t3": t3_screener,
    "prohibited": lambda owner: changed(invoice_ocr(owner), prohibited__social_scoring="yes"),
    "legal_hold": lambda owner: changed(invoice_ocr(owner), prohibited__manipulation="unsure"),
}
DELAYS = [dt.timedelta(hours=2), dt.timedelta(days=1), dt.timedelta(days=3), dt.timedelta(days=6),
          dt.timedelta(days=16), dt.timedelta(days=45), dt.timedelta(days=100)]  # fmt: skip


@dataclass
class Oracle:
    """What happened, kept independently of the state machine under test."""

    conflicted: set[str] = field(default_factory=set)
    decisions: list[tuple[str, str, int, str]] = field(default_factory=list)  # gate, kind, version, actor
    assessed_versions: set[int] = field(default_factory=set)
    transition_numbers: list[int] = field(default_factory=list)


class Promises(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state: UseCaseState | None = None
        self.now = kit.T0
        self.roles: dict[str, list[str]] = {}
        self.oracle = Oracle()
        self.terminal_snapshot: str | None = None

    # ------------------------------------------------------------ setup

    @initialize(
        roles=st.fixed_dictionaries({person: ROLE_SETS for person in PEOPLE}),
        requester=st.sampled_from(PEOPLE),
        owner=st.sampled_from(PEOPLE),
        kind=INTAKE_KINDS,
        fast_forward=st.integers(0, 14),
        continue_review=st.booleans(),
    )
    def submit_intake(
        self, roles: dict[str, list[str]], requester: str, owner: str, kind: str, fast_forward: int,
        continue_review: bool,
    ) -> None:  # fmt: skip
        # Every governance role has at least three holders, so a use case can get through.
        self.roles = {person: list(held) for person, held in roles.items()}
        for index, role in enumerate(GOVERNANCE):
            for offset in range(len(PEOPLE)):
                if sum(role in held for held in self.roles.values()) >= 3:
                    break
                person = PEOPLE[(index + offset) % len(PEOPLE)]
                if role not in self.roles[person]:
                    self.roles[person].append(role)
        state, transition = kit.begin(INTAKES[kind](owner), requester, self.now)
        self.oracle.conflicted |= {requester, owner}
        self._accept(state, transition, None)
        # Start the random part anywhere in the lifecycle, not only at intake.
        self.progress(fast_forward, continue_review)

    def actor(self, who: str, role: str | None = None, excluded: list[str] | None = None):
        """`who` is an e-mail, or the part a person plays in this use case now."""
        state = self.state
        assert state is not None
        if who == "owner":
            who = state.business_owner
        elif who == "requester":
            who = state.requester
        elif who == "involved":
            # Someone who is or was involved (a former owner, an assessor...), holding the role if any does:
            # the people P1 is about, chosen on purpose rather than by luck.
            involved = sorted(self.oracle.conflicted)
            holding = [p for p in involved if role in self.roles.get(p, [])]
            pool = holding or involved
            who = pool[len(self.oracle.transition_numbers) % len(pool)]
        elif who in ("eligible", "legal"):
            wanted = role or "legal"
            holders = [p for p in PEOPLE if wanted in self.roles[p] and p not in (excluded or [])]
            who = holders[len(self.oracle.transition_numbers) % len(holders)] if holders else PEOPLE[0]
        return kit.actor(who, *self.roles[who])

    # ------------------------------------------------------------ steps

    @rule(who=OWNER_MOSTLY)
    def submit_assessment(self, who: str) -> None:
        self._try(kit.assess(self.actor(who)))

    @rule(
        who=DECIDER,
        pick=st.sampled_from(["open"] * 7 + ["any", "older version", "unknown"]),
        index=st.integers(0, 5),
        decision=st.sampled_from(["approve", "approve", "approve", "reject", "request_changes"]),
        comment=st.sampled_from(["", "because", "because"]),
        stale=st.sampled_from([False] * 7 + [True]),
    )
    def decide(self, who: str, pick: str, index: int, decision: str, comment: str, stale: bool) -> None:
        state = self.state
        assert state is not None
        candidates = state.open_gates() if pick == "open" else state.gates if pick == "any" else []
        if candidates:
            gate = candidates[index % len(candidates)]
            gate_id, role, excluded = gate.id, gate.role, gate_excluded(state, gate)
        else:
            gate_id = f"v{max(state.version - 1, 1)}-review-risk" if pick == "older version" else "v9-final-nobody"
            role, excluded = "risk", []
        version = state.version - 1 if stale else None
        self._try(kit.decide(self.actor(who, role, excluded), gate_id, decision, comment, version))

    @rule(who=REVISER, owner=st.sampled_from(["same", "same", *PEOPLE]), kind=INTAKE_KINDS)
    def revise(self, who: str, owner: str, kind: str) -> None:
        assert self.state is not None
        new_owner = self.state.business_owner if owner == "same" else owner
        self._try(kit.revise(self.actor(who), INTAKES[kind](new_owner)))

    @rule(who=OWNER_MOSTLY, resolve=st.sampled_from([True, True, False]), operations=st.sampled_from([True, True, False]))
    def sign_off(self, who: str, resolve: bool, operations: bool) -> None:
        assert self.state is not None
        self._try(kit.sign_off(self.actor(who), self.state, resolve, operations))

    @rule(
        who=OWNER_MOSTLY,
        proposal=st.sampled_from(["continue", "continue", "reassess", "decommission"]),
        change=st.sampled_from([None, None, None, "data", "purpose"]),
    )
    def answer_review(self, who: str, proposal: str, change: str | None) -> None:
        self._try(kit.review(self.actor(who), proposal, change))

    @rule(who=st.sampled_from(["owner", *PEOPLE]), severity=st.sampled_from(["minor", "major", "serious"]))
    def report_incident(self, who: str, severity: str) -> None:
        self._try(kit.incident(self.actor(who), severity))

    @rule(who=st.sampled_from(["owner", "requester", *PEOPLE]))
    def request_decommission(self, who: str) -> None:
        self._try(kit.decommission(self.actor(who)))

    # Mostly people who may not: a withdrawal ends the run, so it should not end most runs early.
    @rule(who=st.sampled_from(["owner", "requester", *PEOPLE, *PEOPLE]))
    def withdraw(self, who: str) -> None:
        self._try(kit.withdraw(self.actor(who)))

    @rule(who=OWNER_MOSTLY, complete=st.sampled_from([True, True, False]))
    def confirm_checklist(self, who: str, complete: bool) -> None:
        self._try(kit.checklist(self.actor(who), complete))

    @rule(steps=st.integers(1, 6), continue_review=st.sampled_from([True, True, True, False]))
    def progress(self, steps: int, continue_review: bool) -> None:
        """The natural next steps by the right people, so random runs reach every stage."""
        for _ in range(steps):
            state = self.state
            assert state is not None
            gates = state.open_gates()
            if gates:
                gate = gates[0]
                self._try(kit.decide(self.actor("eligible", gate.role, gate_excluded(state, gate)), gate.id, "approve"))
            elif state.status == "assessment":
                self._try(kit.assess(self.actor("owner")))
            elif state.status == "approved":
                self._try(kit.sign_off(self.actor("owner"), state))
            elif state.status in ("under_review", "suspended") and not (state.review and state.review.answered):
                self._try(kit.review(self.actor("owner"), "continue" if continue_review else "reassess"))
            elif state.status == "changes_requested":
                self._try(kit.revise(self.actor("owner"), INTAKES["t1"](state.business_owner)))
            elif state.status == "decommissioning":
                self._try(kit.checklist(self.actor("owner")))
            elif state.status == "in_production":
                self.time_passes(dt.timedelta(days=100))

    @rule(delay=st.sampled_from(DELAYS))
    def time_passes(self, delay: dt.timedelta) -> None:
        assert self.state is not None
        before = self.state
        self.now += delay
        state, transitions = kit.run_clock(before, self.now)
        for transition in transitions:
            self.oracle.transition_numbers.append(transition.number)
        # P8: the clock never decides anything.
        decided_before = {g.id: g.state for g in before.gates}
        for gate in state.gates:
            if gate.id in decided_before:
                assert gate.state == decided_before[gate.id], f"the clock changed {gate.id}"
        assert state.status == before.status or (before.status, state.status) in {
            ("in_production", "under_review"),
        }, f"the clock moved {before.status} to {state.status}"
        self.state = state

    # ------------------------------------------------------------ applying

    def _try(self, command: Command) -> None:
        state = self.state
        assert state is not None
        snapshot = state.model_dump_json()
        try:
            lifecycle.check(state, command)
        except Refused:
            # P7: a refused action changes nothing, and apply refuses it the same way.
            try:
                lifecycle.apply(state, command, self.now)
            except Refused:
                pass
            else:
                raise AssertionError(f"check refused {command.kind} but apply accepted it")
            assert state.model_dump_json() == snapshot
            return
        new_state, transition = lifecycle.apply(state, command, self.now)
        assert state.model_dump_json() == snapshot, "apply changed the state it was given"
        self._accept(new_state, transition, command)

    def _accept(self, state: UseCaseState, transition: Any, command: Command | None) -> None:
        before = self.state
        self.oracle.transition_numbers.append(transition.number)
        if command is not None:
            assert before is not None
            self._record(before, state, command)
            # `--hypothesis-show-statistics` shows which transitions the runs reach.
            event(f"{command.kind}: {before.status} -> {state.status}")
        self.state = state

    def _record(self, before: UseCaseState, after: UseCaseState, command: Command) -> None:
        actor = command.actor.email
        if isinstance(command, DecideGate):
            gate = before.gate(command.gate_id)
            assert gate is not None
            # P1, at the moment of deciding: never someone who is or has been involved.
            assert actor not in self.oracle.conflicted, f"{actor} decided {gate.id} of their own use case"
            # P3: decisions are on the current version (a triage is about an incident, not a version).
            if gate.kind != "incident_triage":
                assert gate.version == before.version
            self.oracle.decisions.append((gate.id, gate.kind, gate.version, actor))
        elif isinstance(command, SubmitAssessment):
            self.oracle.conflicted.add(actor)
            self.oracle.assessed_versions.add(after.version)
        elif isinstance(command, Revise):
            self.oracle.conflicted |= {actor, command.intake.business_owner}
            # P3: a revision is assessed on its own before any gate of it opens.
            assert after.version == before.version + 1
            assert after.status in ("assessment", "legal_hold", "rejected"), after.status
            assert not [g for g in after.open_gates() if g.kind in APPROVAL_KINDS]
        elif isinstance(command, SubmitReview) and command.body.proposal != "decommission" and (
            command.body.proposal == "reassess" or command.body.material_change.any_change()
        ):
            # P4: goes to revision, with the deadline of changes_requested (a proposal to
            # decommission wins: a system being taken down is not re-approved).
            assert after.status == "changes_requested" and after.stage is not None
        if isinstance(command, ReportIncident) and command.body.severity == "serious" and not before.suspended:
            privileged = actor == before.business_owner or SUSPENDING_ROLES & set(command.actor.roles)
            if not privileged:
                # P5: from anyone else it is triaged by the AIMS owner, nothing is suspended yet.
                assert not after.suspended
                assert [g for g in after.open_gates() if g.incident == after.incidents], "P5: no triage opened"
        if after.suspended and not before.suspended:
            # P5: only an owner/aims_owner/risk/executive report, or an approved triage, suspends.
            if isinstance(command, ReportIncident):
                assert command.body.severity == "serious"
                assert actor == before.business_owner or SUSPENDING_ROLES & set(command.actor.roles)
            else:
                assert isinstance(command, DecideGate) and before.gate(command.gate_id).kind == "incident_triage"  # type: ignore[union-attr]
        if isinstance(command, ReportIncident):
            assert before.ever_signed_off, "P5: an incident on a use case never signed off"

    # ------------------------------------------------------------ the promises

    @invariant()
    def p1_no_self_approval(self) -> None:
        if self.state is None:
            return
        assert set(self.state.conflicted) >= self.oracle.conflicted
        for gate in self.state.open_gates():
            # P1: nobody involved is ever asked.
            assert not (self.oracle.conflicted - set(lifecycle_excluded(self.state, gate.id)))
        per_version: dict[tuple[int, str], int] = {}
        for _, kind, version, who in self.oracle.decisions:
            if kind in APPROVAL_KINDS:
                per_version[(version, who)] = per_version.get((version, who), 0) + 1
        assert all(count == 1 for count in per_version.values()), "P1: one person decided two gates of a version"

    @invariant()
    def p2_nothing_waits_silently(self) -> None:
        state = self.state
        if state is None or state.status in TERMINAL:
            return
        items = waiting(state)
        if state.status == "in_production":
            assert state.next_review_due is not None
        else:
            assert items, f"P2: {state.status} with nobody who must act"
        # A deadline ahead, or every item at the top of its ladder (executive told; stalled view).
        assert lifecycle.next_deadline(state) is not None or all(
            item.escalation_level == Escalation.EXECUTIVE for item in items
        ), f"P2: {state.status} without a deadline"
        for item in items:
            assert item.roles or item.emails, f"P2: {item.label} has nobody to act"
            for level, at in zip((Escalation.REMINDED, Escalation.STALLED, Escalation.EXECUTIVE), item.steps):
                if at is not None and at <= self.now:
                    assert item.escalation_level >= level, f"P2: {item.label} is behind its ladder"
        if state.status == "in_review":
            assert state.open_gates(), "P2: in review with no open gate"

    @invariant()
    def p3_each_version_assessed_and_decided_on_its_own(self) -> None:
        state = self.state
        if state is None:
            return
        for gate in state.open_gates():
            if gate.kind in APPROVAL_KINDS:
                assert gate.version == state.version
                assert state.version in self.oracle.assessed_versions, "P3: gates open before this version's assessment"
        if state.status == "assessment":
            assert not [g for g in state.open_gates() if g.kind in APPROVAL_KINDS]

    @invariant()
    def p4_a_deployed_system_always_has_a_next_review(self) -> None:
        state = self.state
        if state is None or not state.ever_signed_off or state.status in TERMINAL:
            return
        if state.status == "in_production":
            assert state.next_review_due is not None and state.review is None
        else:
            assert [item for item in waiting(state) if item.due_at], f"P4: {state.status} with no deadline"

    @invariant()
    def p5_suspension(self) -> None:
        state = self.state
        if state is None:
            return
        if state.status in ("in_production", "approved"):
            assert not state.suspended, f"P5: {state.status} while suspended"
        if state.status == "suspended":
            assert state.suspended and state.review is not None

    @invariant()
    def p6_state_stays_small(self) -> None:
        if self.state is not None:
            assert len(self.state.model_dump_json()) < DOCUMENT_MAX_BYTES

    @invariant()
    def p8_final_and_append_only(self) -> None:
        state = self.state
        if state is None:
            return
        numbers = self.oracle.transition_numbers
        assert numbers == list(range(1, len(numbers) + 1)), "P8: transitions are numbered without gaps"
        if state.status in TERMINAL:
            if self.terminal_snapshot is None:
                self.terminal_snapshot = state.model_dump_json()
            assert state.model_dump_json() == self.terminal_snapshot, "P8: a final status changed"
            assert not state.open_gates()

    @precondition(lambda self: self.state is not None and self.state.status in TERMINAL)
    @rule(delay=st.sampled_from(DELAYS))
    def nothing_moves_a_final_use_case(self, delay: dt.timedelta) -> None:
        assert self.state is not None
        assert lifecycle.tick(self.state, self.now + delay) is None


def lifecycle_excluded(state: UseCaseState, gate_id: str) -> list[str]:
    gate = state.gate(gate_id)
    assert gate is not None
    return gate_excluded(state, gate)


def test_every_promise_holds_after_every_step() -> None:
    # A factory function, not the class: Hypothesis digests its source, and for a class
    # CPython 3.11 re-parses the whole module, which can fail spuriously ("AST constructor
    # recursion depth mismatch") when a garbage-collected coroutine finalises mid-parse.
    def machine() -> Promises:
        return Promises()

    run_state_machine_as_test(machine)
