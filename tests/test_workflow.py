"""The lifecycle workflow on the time-skipping Temporal server, against the real database."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from aims import audit
from aims.domain import actions, lifecycle
from aims.domain.durations import Duration
from aims.domain.lifecycle import Actor
from aims.domain.messages import LifecycleInput, workflow_id
from aims.persistence import models, repository
from aims.persistence.db import transaction
from aims.runtime import lifecycle_worker
from tests import people
from tests.intakes import ASSESSMENT, CHECKLIST, REVIEW_CONTINUE, SIGNOFF, changed, code_assistant, invoice_ocr
from tests.people import AIMS, EXEC, LEGAL, OWNER, REQ, RISK, SECURITY


@pytest.fixture(scope="module", autouse=True)
def cast(database_url: str) -> None:
    people.seed(database_url)


@pytest.fixture
async def flow(time_env: WorkflowEnvironment, database_url: str, task_queue: str):
    async with lifecycle_worker(time_env.client, task_queue, database_url):
        yield Flow(time_env, task_queue, database_url)


class Flow:
    """Drives one use case the way the API does: start, then Updates carrying the actor."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str, database_url: str):
        self.env, self.task_queue, self.database_url = env, task_queue, database_url
        self.handle: WorkflowHandle | None = None
        self.id = ""

    async def start(self, intake: dict[str, Any], requester: Actor = REQ) -> dict[str, Any]:
        self.id = str(uuid.uuid4())
        self.handle = await self.env.client.start_workflow(
            "UseCaseLifecycle",
            LifecycleInput(use_case_id=self.id, requester=requester.email, intake=intake),
            id=workflow_id(self.id),
            task_queue=self.task_queue,
        )
        return await self.update("sync")

    async def update(self, name: str, *args: Any, id: str | None = None) -> dict[str, Any]:
        handle = self.env.client.get_workflow_handle(workflow_id(self.id))
        return await handle.execute_update(name, args=list(args), id=id, result_type=dict)

    async def decide(self, actor: Actor, gate: str, decision: str = "approve", comment: str = "", **kw: Any):
        body = actions.GateDecision(decision=decision, comment=comment)
        return await self.update("decide_gate", lifecycle.DecideGate(actor=actor, gate_id=gate, body=body, **kw))

    async def assess(self, actor: Actor = OWNER):
        command = lifecycle.SubmitAssessment(actor=actor, assessment=actions.Assessment.model_validate(ASSESSMENT))
        return await self.update("submit_assessment", command)

    async def sign_off(self, body: dict[str, Any] = SIGNOFF, actor: Actor = OWNER):
        command = lifecycle.SignOffCommand(actor=actor, body=actions.SignOff.model_validate(body))
        return await self.update("sign_off", command)

    async def revise(self, intake: dict[str, Any], actor: Actor = REQ, reason: str = "fix"):
        return await self.update("revise_intake", lifecycle.ReviseIntake(actor=actor, intake=intake, reason=reason))

    async def review(self, answer: dict[str, Any] = REVIEW_CONTINUE, actor: Actor = OWNER):
        command = lifecycle.SubmitReview(actor=actor, body=actions.ReviewAnswer.model_validate(answer))
        return await self.update("submit_review", command)

    async def incident(self, severity: str, actor: Actor = REQ):
        body = actions.Incident(severity=severity, description=f"{severity} incident")
        return await self.update("report_incident", lifecycle.ReportIncident(actor=actor, body=body))

    async def state(self) -> dict[str, Any]:
        return await self.update("sync")

    def row(self) -> models.UseCase:
        with transaction(self.database_url) as session:
            row = repository.get_use_case(session, self.id)
            assert row is not None
            return row

    def notices(self, recipient: str, kind: str) -> list[models.Notification]:
        with transaction(self.database_url) as session:
            rows = repository.notifications_for(session, recipient, use_case_id=self.id)
            return [row for row in rows if row.kind == kind]

    async def refused(self, code: str, coroutine) -> str:
        with pytest.raises(WorkflowUpdateFailedError) as error:
            await coroutine
        cause = error.value.cause
        assert getattr(cause, "type", None) == code, cause
        return str(cause)

    async def to_production(self, intake: dict[str, Any]) -> dict[str, Any]:
        await self.start(intake)
        state = await self.assess()
        while state["status"] == "in_review":
            gate = next(g for g in state["gates"] if g["state"] == "open")
            state = await self.decide(_decider(gate["role"]), gate["id"])
        assert state["status"] == "approved"
        return await self.sign_off()


def _decider(role: str) -> Actor:
    return {"risk": RISK, "security": SECURITY, "legal": LEGAL, "executive": EXEC, "aims_owner": AIMS,
            "privacy": people.PRIVACY}[role]  # fmt: skip


def _open(state: dict[str, Any]) -> list[str]:
    return sorted(g["id"] for g in state["gates"] if g["state"] == "open")


# ---------------------------------------------------------------- intake → production


async def test_t2_use_case_goes_from_intake_to_production(flow: Flow):
    state = await flow.start(code_assistant())
    assert state["status"] == "assessment"
    assert state["classification"]["aims_tier"] == "T2_MEDIUM"
    assert state["policy_version"] == "2026.1"
    assert flow.notices("owner@example.com", "assessment_requested")

    state = await flow.assess()
    assert state["status"] == "in_review"
    assert _open(state) == ["v1-review-risk", "v1-review-security"]
    assert flow.notices("risk@example.com", "gate_request")
    assert not flow.notices("owner@example.com", "gate_request")

    state = await flow.decide(RISK, "v1-review-risk")
    assert _open(state) == ["v1-review-security"]
    state = await flow.decide(SECURITY, "v1-review-security", comment="fine")
    assert _open(state) == ["v1-final-aims_owner"]
    state = await flow.decide(AIMS, "v1-final-aims_owner")
    assert state["status"] == "approved"
    final = next(g for g in state["gates"] if g["id"] == "v1-final-aims_owner")
    assert final["decided_by"] == "aims@example.com" and final["version"] == 1

    state = await flow.sign_off()
    assert state["status"] == "in_production"
    signed = flow.row()
    assert signed.status == "in_production" and signed.policy_version == "2026.1"
    assert Duration.parse("P3M").after(_dt(state["in_production_since"])) == _dt(state["next_review_due"])

    with transaction(flow.database_url) as session:
        events = repository.audit_events(session, flow.id)
        assert audit.verify_chain(events) == (True, None)
        decisions = session.scalars(select(models.GateDecision).where(models.GateDecision.use_case_id == flow.id))
        assert len(list(decisions)) == 3
        assert [e.type for e in events][:3] == ["intake_submitted", "classified", "status_changed"]


def _dt(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def test_t1_use_case_has_only_the_final_gate(flow: Flow):
    await flow.start(invoice_ocr())
    state = await flow.assess()
    assert _open(state) == ["v1-final-aims_owner"]


# ---------------------------------------------------------------- refusals change nothing


async def test_refused_decisions_change_nothing(flow: Flow):
    await flow.start(code_assistant())
    before = await flow.assess()
    owner_with_role = Actor(email="owner@example.com", roles=["risk"])
    requester_with_role = Actor(email="req@example.com", roles=["risk"])
    assert "own use case" in await flow.refused("forbidden", flow.decide(owner_with_role, "v1-review-risk"))
    await flow.refused("forbidden", flow.decide(requester_with_role, "v1-review-risk"))
    await flow.refused("forbidden", flow.decide(SECURITY, "v1-review-risk"))
    await flow.refused("invalid", flow.decide(RISK, "v1-review-risk", "reject"))
    await flow.refused("conflict", flow.decide(AIMS, "v1-final-aims_owner"))  # pending, not open
    await flow.refused("not_found", flow.decide(RISK, "v9-review-risk"))
    await flow.refused("conflict", flow.decide(RISK, "v1-review-risk", version=2))
    await flow.refused("forbidden", flow.sign_off(actor=REQ))
    await flow.refused("conflict", flow.sign_off())
    after = await flow.state()
    assert after == before
    assert flow.row().transition_number == 2


# ---------------------------------------------------------------- branches


async def test_reject_ends_the_use_case(flow: Flow):
    await flow.start(code_assistant())
    await flow.assess()
    state = await flow.decide(RISK, "v1-review-risk", "reject", "Unacceptable supplier terms")
    assert state["status"] == "rejected"
    assert state["gates"][1]["state"] == "superseded"
    assert (await flow.handle.result())["status"] == "rejected"


async def test_request_changes_then_revision_restarts_every_gate(flow: Flow):
    await flow.start(code_assistant())
    await flow.assess()
    await flow.decide(SECURITY, "v1-review-security")
    state = await flow.decide(RISK, "v1-review-risk", "request_changes", "Pin the model version")
    assert state["status"] == "changes_requested"

    await flow.refused("forbidden", flow.revise(code_assistant(), actor=RISK))
    state = await flow.revise(changed(code_assistant(), purpose="Pinned to m-large-2026"))
    assert state["version"] == 2 and state["status"] == "in_review"
    assert _open(state) == ["v2-review-risk", "v2-review-security"]
    # A decision made on version 1 is stale.
    await flow.refused("conflict", flow.decide(RISK, "v2-review-risk", version=1))
    await flow.refused("not_found", flow.decide(SECURITY, "v1-review-security"))
    with transaction(flow.database_url) as session:
        versions = session.scalars(select(models.IntakeVersion).where(models.IntakeVersion.use_case_id == flow.id))
        assert [v.version for v in versions] == [1, 2]
        v1 = session.get(models.Gate, (flow.id, "v1-review-security"))
        assert v1.state == "approved"


async def test_revision_reclassifies(flow: Flow):
    await flow.start(invoice_ocr())
    await flow.assess()
    state = await flow.revise(changed(invoice_ocr(), accuracy__worst_consequence="harm_to_health_safety_or_rights"))
    assert state["classification"]["aims_tier"] == "T3_HIGH"
    assert _open(state) == ["v2-review-legal", "v2-review-risk", "v2-review-security"]


async def test_prohibited_use_is_rejected_at_once_and_aims_owner_told(flow: Flow):
    state = await flow.start(changed(invoice_ocr(), prohibited__social_scoring="yes"))
    assert state["status"] == "rejected" and "social_scoring" in state["status_reason"]
    assert (await flow.handle.result())["status"] == "rejected"
    assert flow.notices("aims@example.com", "rejected")


async def test_legal_hold_is_resolved_by_legal_revising(flow: Flow):
    state = await flow.start(changed(invoice_ocr(), prohibited__manipulation="unsure"))
    assert state["status"] == "legal_hold"
    assert flow.notices("legal@example.com", "legal_hold")
    await flow.refused("forbidden", flow.revise(invoice_ocr(), actor=REQ))
    await flow.refused("conflict", flow.assess())
    state = await flow.revise(invoice_ocr(), actor=LEGAL, reason="Not manipulative: plain OCR")
    assert state["status"] == "assessment" and state["version"] == 2


async def test_signoff_refuses_unresolved_blockers(flow: Flow):
    intake = changed(code_assistant(), security__event_logging="no", operations={"kill_switch": "yes"})
    await flow.start(intake)
    await flow.assess()
    for gate, who in (("v1-review-risk", RISK), ("v1-review-security", SECURITY), ("v1-final-aims_owner", AIMS)):
        state = await flow.decide(who, gate)
    assert state["signoff_blockers"] == ["SEC-4"]
    message = await flow.refused("conflict", flow.sign_off())
    assert "SEC-4" in message
    missing_ops = {"controls_in_place": ["A.6.2.8"], "blocker_resolutions": {}}
    assert "monitoring_plan" in await flow.refused("invalid", flow.sign_off(missing_ops))
    resolved = SIGNOFF | {
        "blocker_resolutions": {"SEC-4": {"evidence_url": "https://wiki/logging", "note": "Logs kept 12 months"}}
    }
    state = await flow.sign_off(resolved)
    assert state["status"] == "in_production" and state["signoff_blockers"] == []


# ---------------------------------------------------------------- SLA escalation


async def test_gate_sla_reminder_stall_and_executive_escalation_never_approve(flow: Flow):
    await flow.start(code_assistant())
    await flow.assess()
    await flow.env.sleep(timedelta(days=2, hours=13))
    assert flow.notices("risk@example.com", "gate_reminder")
    assert not flow.notices("aims@example.com", "gate_stalled")

    await flow.env.sleep(timedelta(days=2, hours=12))
    state = await flow.state()
    risk = next(g for g in state["gates"] if g["id"] == "v1-review-risk")
    assert risk["stalled"] and risk["state"] == "open"
    assert flow.notices("aims@example.com", "gate_stalled")
    assert not flow.notices("exec@example.com", "gate_escalated")

    await flow.env.sleep(timedelta(days=5))
    assert len(flow.notices("exec@example.com", "gate_escalated")) == 2  # both review gates
    await flow.env.sleep(timedelta(days=60))
    state = await flow.state()
    assert state["status"] == "in_review" and _open(state) == ["v1-review-risk", "v1-review-security"]
    assert len(flow.notices("risk@example.com", "gate_reminder")) == 1


# ---------------------------------------------------------------- re-reviews


async def test_three_years_of_quarterly_reviews_with_bounded_history(flow: Flow):
    state = await flow.to_production(code_assistant())
    run_ids = set()
    for quarter in range(12):
        due = _dt(state["next_review_due"])
        await flow.env.sleep(due - _dt(state["updated_at"]) + timedelta(hours=1))
        state = await flow.state()
        assert state["status"] == "under_review", quarter
        assert flow.notices("owner@example.com", "review_due")
        state = await flow.review()
        gate = _open(state)[0]
        await flow.env.sleep(timedelta(days=1))
        state = await flow.decide(AIMS, gate)
        assert state["status"] == "in_production"
        assert state["reviews_completed"] == quarter + 1
        # Anchored to the completed review, not to a calendar grid.
        assert _dt(state["next_review_due"]) == Duration.parse("P3M").after(_dt(state["last_review_completed_at"]))
        await flow.env.sleep(timedelta(hours=1))
        description = await flow.handle.describe()
        run_ids.add(description.run_id)
    assert len(run_ids) == 12  # continued as new after every cycle
    handle = flow.env.client.get_workflow_handle(workflow_id(flow.id))
    history = await handle.fetch_history()
    assert len(history.events) < 120
    with transaction(flow.database_url) as session:
        assert audit.verify_chain(repository.audit_events(session, flow.id)) == (True, None)
        reviews = session.scalars(select(models.Review).where(models.Review.use_case_id == flow.id)).all()
        assert len(reviews) == 12 and all(r.completed_at for r in reviews)


async def test_overdue_review_escalates_to_aims_owner_then_executive(flow: Flow):
    state = await flow.to_production(invoice_ocr())
    due = _dt(state["next_review_due"])
    await flow.env.sleep(due - _dt(state["updated_at"]) + timedelta(days=13))
    assert not flow.notices("aims@example.com", "review_overdue")
    await flow.env.sleep(timedelta(days=2))
    assert flow.notices("aims@example.com", "review_overdue")
    assert not flow.notices("exec@example.com", "review_escalated")
    await flow.env.sleep(timedelta(days=16))
    assert flow.notices("exec@example.com", "review_escalated")
    assert (await flow.state())["status"] == "under_review"


async def test_review_with_material_change_goes_back_to_revision_and_gates(flow: Flow):
    await flow.to_production(invoice_ocr())
    answer = REVIEW_CONTINUE | {"material_change": REVIEW_CONTINUE["material_change"] | {"data": "yes"}}
    state = await flow.review(answer)  # an owner-initiated review, before it is due
    assert state["status"] == "changes_requested" and "data" in state["status_reason"]
    state = await flow.revise(changed(invoice_ocr(), data__sources=["internal_systems", "customer_provided"]))
    assert state["status"] == "in_review" and state["version"] == 2


# ---------------------------------------------------------------- incidents, material change, decommission


async def test_incidents(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.incident("minor")
    assert state["status"] == "in_production" and state["incidents"] == 1
    state = await flow.incident("major")
    assert state["status"] == "under_review" and state["review"]["trigger"] == "incident"
    state = await flow.incident("serious")
    assert state["status"] == "suspended"
    assert flow.notices("exec@example.com", "incident")
    state = await flow.review()
    assert state["status"] == "suspended"
    state = await flow.decide(AIMS, _open(state)[0])
    assert state["status"] == "in_production" and not state["suspended"]


async def test_material_change_in_production_needs_gates_and_signoff_again(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.revise(changed(invoice_ocr(), purpose="Also reads receipts"), actor=OWNER)
    assert state["status"] == "in_review" and _open(state) == ["v2-final-aims_owner"]
    state = await flow.decide(AIMS, "v2-final-aims_owner")
    assert state["status"] == "approved"
    state = await flow.sign_off()
    assert state["status"] == "in_production" and state["signoff"]["version"] == 2


async def test_decommission_checklist_then_aims_owner_retires(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.update(
        "request_decommission",
        lifecycle.RequestDecommission(actor=OWNER, body=actions.DecommissionRequest(reason="Replaced by vendor OCR")),
    )
    assert state["status"] == "decommissioning"
    partial = actions.DecommissionChecklist.model_validate(CHECKLIST | {"records_kept": False})
    message = await flow.refused("invalid", flow.update("confirm_checklist", lifecycle.ConfirmChecklist(
        actor=OWNER, body=partial)))  # fmt: skip
    assert "records_kept" in message
    checklist = actions.DecommissionChecklist.model_validate(CHECKLIST)
    await flow.refused("forbidden", flow.update("confirm_checklist", lifecycle.ConfirmChecklist(actor=REQ,
                                                                                              body=checklist)))
    state = await flow.update("confirm_checklist", lifecycle.ConfirmChecklist(actor=OWNER, body=checklist))
    gate = _open(state)[0]
    assert "decommission" in gate
    state = await flow.decide(AIMS, gate)
    assert state["status"] == "retired"
    assert (await flow.handle.result())["status"] == "retired"
    assert flow.row().status == "retired"


# ---------------------------------------------------------------- idempotency


async def test_request_ids_are_deduplicated_across_continue_as_new(flow: Flow):
    state = await flow.to_production(invoice_ocr())
    await flow.env.sleep(_dt(state["next_review_due"]) - _dt(state["updated_at"]) + timedelta(hours=1))
    await flow.review()
    gate = _open(await flow.state())[0]
    body = actions.GateDecision(decision="approve")
    command = lifecycle.DecideGate(actor=AIMS, gate_id=gate, body=body)
    first = await flow.update("decide_gate", command, id="click-123")
    await flow.env.sleep(timedelta(hours=1))  # the run continues as new meanwhile
    again = await flow.update("decide_gate", command, id="click-123")
    assert again["reviews_completed"] == first["reviews_completed"] == 1
    with transaction(flow.database_url) as session:
        decisions = session.scalars(
            select(models.GateDecision).where(
                models.GateDecision.use_case_id == flow.id, models.GateDecision.gate_id == gate
            )
        ).all()
        assert len(decisions) == 1
