"""The audit trail and the notices of representative lifecycles, pinned: every event (type,
actor, data), every notice (who hears what), every refusal (code and reason), every deadline.

The trail is what an auditor reads, so a change to it must be deliberate: it shows here as a
diff of `tests/golden/*.json`. After an intended change, regenerate and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_trails.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aims.domain import lifecycle
from aims.domain.commands import Command
from aims.domain.deadlines import waiting
from aims.domain.state import Refused, Transition, UseCaseState
from tests import domain_kit as kit
from tests.domain_kit import AIMS, EXEC, LEGAL, OUTSIDER, OWNER, REQ, RISK, SECURITY, T0, actor
from tests.intakes import changed, code_assistant, invoice_ocr

GOLDEN = Path(__file__).parent / "golden"
PRIVACY = actor("privacy@example.com", "privacy")
DUAL = actor("dual@example.com", "risk", "security")


class Trail:
    """Runs steps against the pure lifecycle and writes down everything each one produced."""

    def __init__(self, intake: dict[str, Any], requester: str = REQ.email):
        self.now = T0
        self.state, transition = kit.begin(intake, requester, self.now)
        self.steps: list[dict[str, Any]] = [self._record("intake", transition)]

    def act(self, label: str, command: Command, minutes: int = 60) -> None:
        self.now += dt.timedelta(minutes=minutes)
        try:
            self.state, transition = lifecycle.apply(self.state, command, self.now)
        except Refused as refusal:
            self.steps.append({"step": label, "refused": refusal.code, "reason": refusal.message})
            return
        self.steps.append(self._record(label, transition))

    def wait(self, label: str, delay: dt.timedelta) -> None:
        self.now += delay
        self.state, transitions = kit.run_clock(self.state, self.now)
        for transition in transitions:
            self.steps.append(self._record(f"{label} (clock)", transition))
        self.steps.append({"step": label, "status": self.state.status, "next_deadline": _iso(lifecycle.next_deadline(self.state))})

    def command(self, label: str, make: Callable[[UseCaseState], Command], minutes: int = 60) -> None:
        self.act(label, make(self.state), minutes)

    def _record(self, label: str, transition: Transition) -> dict[str, Any]:
        state = self.state
        return {
            "step": label,
            "status": state.status,
            "status_reason": state.status_reason,
            "version": state.version,
            "suspended": state.suspended,
            "events": [
                {"type": e.type, "actor": e.actor, "at": _iso(e.at), "version": e.version, "data": e.model_dump(mode="json")["data"]}
                for e in transition.events
            ],
            "notices": [n.model_dump(mode="json") for n in transition.notices],
            "gates": {g.id: [g.state, g.escalation_level, g.decided_by] for g in state.gates},
            "waiting": [
                [w.kind, w.ref, w.label, sorted(w.roles + w.emails), _iso(w.due_at), int(w.escalation_level)]
                for w in waiting(state)
            ],
            "next_review_due": _iso(state.next_review_due),
            "conflicted": state.conflicted,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _decide_open(who_by_role: dict[str, Any]) -> Callable[[UseCaseState], Command]:
    def make(state: UseCaseState) -> Command:
        gate = state.open_gates()[0]
        return kit.decide(who_by_role[gate.role], gate.id)

    return make


DECIDE = _decide_open({"risk": RISK, "security": SECURITY, "legal": LEGAL, "executive": EXEC, "aims_owner": AIMS,
                       "privacy": PRIVACY})  # fmt: skip


def t2_from_intake_to_retirement() -> Trail:
    trail = Trail(code_assistant())
    trail.act("no gate before the assessment", kit.decide(RISK, "v1-review-risk"))
    trail.act("only the owner assesses", kit.assess(REQ))
    trail.act("assessment", kit.assess(OWNER))
    trail.act("the owner may not decide", kit.decide(actor(OWNER.email, "risk"), "v1-review-risk"))
    trail.wait("three days pass", dt.timedelta(days=3))
    trail.act("changes need a reason", kit.decide(RISK, "v1-review-risk", "request_changes"))
    trail.act("risk asks for changes", kit.decide(RISK, "v1-review-risk", "request_changes", "Pin the model"))
    trail.act("a stranger may not revise", kit.revise(OUTSIDER, code_assistant()))
    trail.act("revision", kit.revise(REQ, changed(code_assistant(), purpose="Pinned to m-large-2026")))
    trail.act("superseded gate", kit.decide(RISK, "v1-review-risk"))
    trail.act("assessment of v2", kit.assess(OWNER))
    trail.act("a decision on v1 is stale", kit.decide(RISK, "v2-review-risk", version=1))
    trail.act("risk approves", kit.decide(RISK, "v2-review-risk"))
    trail.act("security approves", kit.decide(SECURITY, "v2-review-security"))
    trail.act("the final gate needs its role", kit.decide(RISK, "v2-final-aims_owner"))
    trail.act("aims owner approves", kit.decide(AIMS, "v2-final-aims_owner"))
    trail.command("sign-off needs operations", lambda s: kit.sign_off(OWNER, s, operations=False))
    trail.command("sign-off", lambda s: kit.sign_off(OWNER, s))
    trail.wait("until the review is due and a week more", dt.timedelta(days=98))
    trail.act("review: continue", kit.review(OWNER))
    trail.act("a review is answered once", kit.review(OWNER))
    trail.command("continuation sent back", lambda s: kit.decide(AIMS, s.open_gates()[0].id, "request_changes", "KPIs down"))
    trail.act("revision after the review", kit.revise(OWNER, changed(code_assistant(), purpose="Retrained")))
    trail.act("assessment of v3", kit.assess(OWNER))
    for index in range(3):
        trail.command(f"approval {index + 1}", DECIDE)
    trail.command("sign-off of v3", lambda s: kit.sign_off(OWNER, s))
    trail.act("minor incident", kit.incident(OUTSIDER, "minor"))
    trail.act("major incident", kit.incident(REQ, "major"))
    trail.act("serious incident by the owner", kit.incident(OWNER, "serious"))
    trail.act("review while suspended", kit.review(OWNER))
    trail.command("continuation lifts the suspension", DECIDE)
    trail.act("decommission request", kit.decommission(REQ, "Replaced by the vendor's assistant"))
    trail.act("decommission twice", kit.decommission(OWNER))
    trail.act("checklist incomplete", kit.checklist(OWNER, complete=False))
    trail.act("checklist", kit.checklist(OWNER))
    trail.command("checklist sent back", lambda s: kit.decide(AIMS, s.open_gates()[0].id, "request_changes", "Logs?"))
    trail.act("checklist again", kit.checklist(OWNER))
    trail.command("a decommission gate is not rejected", lambda s: kit.decide(AIMS, s.open_gates()[0].id, "reject", "no"))
    trail.command("retired", DECIDE)
    trail.act("nothing after retirement", kit.incident(OWNER, "minor"))
    return trail


def t3_blockers_and_triage() -> Trail:
    intake = changed(
        code_assistant(), name="CV screener", high_risk__annex_iii_uses=["iii_4a"],
        people__decision_role="recommendation_to_human", people__decision_effect="significant",
        data__personal_data=["ordinary_personal"], security__event_logging="no", people__contest_channel="no",
    )  # fmt: skip
    trail = Trail(intake)
    trail.act("assessment", kit.assess(OWNER))
    trail.act("one person, one gate", kit.decide(DUAL, "v1-review-risk"))
    trail.act("and not a second", kit.decide(DUAL, "v1-review-security"))
    for index in range(3):
        trail.command(f"review gate {index + 1}", DECIDE)
    trail.wait("the executive is slow", dt.timedelta(days=11))
    trail.command("executive approves", DECIDE)
    trail.command("blockers stop the sign-off", lambda s: kit.sign_off(OWNER, s, resolve=False))
    trail.command("sign-off with the blockers resolved", lambda s: kit.sign_off(OWNER, s))
    trail.act("serious incident by an outsider", kit.incident(OUTSIDER, "serious"))
    trail.command("triage kept running needs a reason", lambda s: kit.decide(AIMS, s.open_gates()[0].id, "reject"))
    trail.command("triage: keep running", lambda s: kit.decide(AIMS, s.open_gates()[0].id, "reject", "False alarm"))
    trail.act("serious incident by security", kit.incident(SECURITY, "serious"))
    trail.wait("the triage waits two days", dt.timedelta(days=2))
    trail.command("triage: suspend", DECIDE)
    trail.act("revision while suspended", kit.revise(OWNER, changed(intake, people__contest_channel="yes")))
    trail.act("assessment", kit.assess(OWNER))
    for index in range(5):
        trail.command(f"re-approval {index + 1}", DECIDE)
    trail.command("sign-off", lambda s: kit.sign_off(OWNER, s))
    trail.act("owner proposes reassessment", kit.review(OWNER, "reassess"))
    trail.wait("nobody revises for three weeks", dt.timedelta(days=21))
    return trail


def holds_and_prohibitions() -> Trail:
    trail = Trail(changed(invoice_ocr(), prohibited__manipulation="unsure"))
    trail.act("the requester may not lift a hold", kit.revise(REQ, invoice_ocr()))
    trail.wait("legal takes its time", dt.timedelta(days=21))
    trail.act("legal finds it prohibited", kit.revise(LEGAL, changed(invoice_ocr(), prohibited__face_scraping="yes")))
    trail.act("nothing after rejection", kit.revise(REQ, invoice_ocr()))
    return trail


def waiting_statuses() -> Trail:
    trail = Trail(invoice_ocr())
    trail.wait("the owner does not assess", dt.timedelta(days=21))
    trail.act("assessment at last", kit.assess(OWNER))
    trail.command("approved", DECIDE)
    trail.wait("the owner does not sign off", dt.timedelta(days=61))
    trail.command("sign-off", lambda s: kit.sign_off(OWNER, s))
    trail.act("review proposing decommission", kit.review(OWNER, "decommission"))
    trail.wait("the checklist waits", dt.timedelta(days=31))
    trail.act("checklist", kit.checklist(OWNER))
    trail.wait("the AIMS owner waits", dt.timedelta(days=11))
    return trail


SCENARIOS = {
    "t2_from_intake_to_retirement": t2_from_intake_to_retirement,
    "t3_blockers_and_triage": t3_blockers_and_triage,
    "holds_and_prohibitions": holds_and_prohibitions,
    "waiting_statuses": waiting_statuses,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_trail_is_as_recorded(name: str):
    steps = SCENARIOS[name]().steps
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(steps, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(path.read_text())
    assert len(steps) == len(expected)
    for got, want in zip(steps, expected):
        assert got == want, f"step {want['step']!r} differs"
