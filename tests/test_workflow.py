"""The lifecycle workflow on the time-skipping Temporal server, against the real database."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from aims.domain import actions, commands
from aims.domain.durations import Duration
from aims.domain.messages import workflow_id
from aims.domain.state import Actor
from aims.persistence import chains, models, queries
from aims.persistence.db import transaction
from tests import people
from tests.conftest import worker_for
from tests.flow import Flow
from tests.intakes import CHECKLIST, REVIEW_CONTINUE, SIGNOFF, changed, code_assistant, invoice_ocr
from tests.people import AIMS, LEGAL, OWNER, REQ, RISK, SECURITY


@pytest.fixture(scope="module", autouse=True)
def cast(database_url: str) -> None:
    people.seed(database_url)


@pytest.fixture
async def flow(time_env: WorkflowEnvironment, database_url: str, task_queue: str):
    async with worker_for(time_env.client, task_queue, database_url):
        yield Flow(time_env, task_queue, database_url)


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
        events = chains.events(session, flow.id)
        assert chains.verify(session, flow.id).verified
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
    assert "no self-approval" in await flow.refused("forbidden", flow.decide(owner_with_role, "v1-review-risk"))
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


@pytest.mark.parametrize("classified", [True, False], ids=["classified-by-the-api", "sent-before-the-api-classified"])
async def test_request_changes_then_revision_restarts_every_gate(flow: Flow, classified: bool):
    await flow.start(code_assistant())
    await flow.assess()
    await flow.decide(SECURITY, "v1-review-security")
    state = await flow.decide(RISK, "v1-review-risk", "request_changes", "Pin the model version")
    assert state["status"] == "changes_requested"

    await flow.refused("forbidden", flow.revise(code_assistant(), actor=RISK, classified=classified))
    state = await flow.revise(changed(code_assistant(), purpose="Pinned to m-large-2026"), classified=classified)
    # P3: the new version is assessed on its own before its gates open.
    assert state["version"] == 2 and state["status"] == "assessment" and _open(state) == []
    await flow.refused("conflict", flow.decide(SECURITY, "v1-review-security"))  # superseded version
    state = await flow.assess()
    assert state["status"] == "in_review"
    assert _open(state) == ["v2-review-risk", "v2-review-security"]
    # A decision made on version 1 is stale.
    await flow.refused("conflict", flow.decide(RISK, "v2-review-risk", version=1))
    with transaction(flow.database_url) as session:
        versions = session.scalars(
            select(models.IntakeVersion)
            .where(models.IntakeVersion.use_case_id == flow.id)
            .order_by(models.IntakeVersion.version)  # PostgreSQL returns rows in any order without one
        )
        assert [v.version for v in versions] == [1, 2]
        v1 = session.get(models.Gate, (flow.id, "v1-review-security"))
        assert v1.state == "approved"


async def test_revision_reclassifies(flow: Flow):
    await flow.start(invoice_ocr())
    await flow.assess()
    state = await flow.revise(changed(invoice_ocr(), accuracy__worst_consequence="harm_to_health_safety_or_rights"))
    assert state["classification"]["aims_tier"] == "T3_HIGH" and state["status"] == "assessment"
    state = await flow.assess()
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


@pytest.mark.parametrize(
    "lean, classified", [(True, True), (True, False), (False, False)],
    ids=["started-today", "started-before-classified-input", "started-before-lean-input"],
)  # fmt: skip
async def test_a_run_classifies_and_asks_workflow_patched_only_when_its_input_does_not_say(
    flow: Flow, lean: bool, classified: bool
):
    """A patch's marker and TemporalChangeVersion upsert cost every new workflow two events and a
    visibility write, a classify activity a marker and a workflow activation: a run started today
    knows it is lean and carries the API's classification; runs started before ask and classify."""
    state = await flow.start(code_assistant(), lean=lean, classified=classified)
    assert state["classification"]["aims_tier"] == "T2_MEDIUM"
    state = await flow.assess()
    assert state["status"] == "in_review"
    history = await flow.env.client.get_workflow_handle(workflow_id(flow.id)).fetch_history()
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events
               if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]  # fmt: skip
    upserts = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    assert markers.count("core_local_activity") == (2 if classified else 3)  # (classify,) record, record
    assert ("core_patch" in markers, len(upserts)) == ((False, 0) if lean else (True, 1))


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
    assert not any(e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES for e in history.events)
    with transaction(flow.database_url) as session:
        assert chains.verify(session, flow.id).verified
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
    assert state["status"] == "assessment" and state["version"] == 2
    state = await flow.assess()
    assert state["status"] == "in_review" and _open(state) == ["v2-final-aims_owner"]


# ---------------------------------------------------------------- incidents, material change, decommission


async def test_incidents(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.incident("minor")
    assert state["status"] == "in_production" and state["incidents"] == 1
    assert not flow.notices("exec@example.com", "incident")
    state = await flow.incident("major")
    assert state["status"] == "under_review" and state["review"]["trigger"] == "incident"
    state = await flow.incident("serious", actor=OWNER)  # the business owner suspends at once
    assert state["status"] == "suspended"
    assert flow.notices("exec@example.com", "suspended")
    state = await flow.review()
    assert state["status"] == "suspended"
    state = await flow.decide(AIMS, _open(state)[0])
    assert state["status"] == "in_production" and not state["suspended"]


async def test_serious_incident_from_anyone_else_is_triaged_by_the_aims_owner(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.incident("serious", actor=REQ)  # the requester is not the owner
    assert state["status"] == "in_production" and not state["suspended"]
    triage = _open(state)
    assert triage == ["v1-incident1-triage"]
    assert flow.notices("aims@example.com", "gate_request") and flow.notices("risk@example.com", "incident")
    await flow.refused("invalid", flow.decide(AIMS, triage[0], "reject"))  # keeping it running needs a reason
    state = await flow.decide(AIMS, triage[0], "reject", "False alarm: a test account")
    assert state["status"] == "in_production" and not state["suspended"]
    state = await flow.incident("serious", actor=REQ)
    state = await flow.decide(AIMS, _open(state)[0])  # approve = suspend now
    assert state["status"] == "suspended" and state["review"]["trigger"] == "incident"


async def test_material_change_in_production_needs_gates_and_signoff_again(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.revise(changed(invoice_ocr(), purpose="Also reads receipts"), actor=OWNER)
    assert state["status"] == "assessment" and state["signoff"] is None
    state = await flow.assess()
    assert state["status"] == "in_review" and _open(state) == ["v2-final-aims_owner"]
    state = await flow.decide(AIMS, "v2-final-aims_owner")
    assert state["status"] == "approved"
    state = await flow.sign_off()
    assert state["status"] == "in_production" and state["signoff"]["version"] == 2


async def test_decommission_checklist_then_aims_owner_retires(flow: Flow):
    await flow.to_production(invoice_ocr())
    state = await flow.act(
        commands.RequestDecommission(actor=OWNER, body=actions.DecommissionRequest(reason="Replaced by vendor OCR"))
    )
    assert state["status"] == "decommissioning"
    partial = actions.DecommissionChecklist.model_validate(CHECKLIST | {"records_kept": False})
    message = await flow.refused("invalid", flow.act(commands.ConfirmChecklist(actor=OWNER, body=partial)))
    assert "records_kept" in message
    checklist = actions.DecommissionChecklist.model_validate(CHECKLIST)
    await flow.refused("forbidden", flow.act(commands.ConfirmChecklist(actor=REQ, body=checklist)))
    state = await flow.act(commands.ConfirmChecklist(actor=OWNER, body=checklist))
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
    command = commands.DecideGate(actor=AIMS, gate_id=gate, body=body)
    first = await flow.act(command, id="click-123")
    await flow.env.sleep(timedelta(hours=1))  # the run continues as new meanwhile
    again = await flow.act(command, id="click-123")
    assert again["reviews_completed"] == first["reviews_completed"] == 1
    with transaction(flow.database_url) as session:
        decisions = session.scalars(
            select(models.GateDecision).where(
                models.GateDecision.use_case_id == flow.id, models.GateDecision.gate_id == gate
            )
        ).all()
        assert len(decisions) == 1


async def test_a_reassessment_escalates_and_shows_in_the_stalled_view(flow: Flow):
    """The defect: a due review answered `reassess` left the use case waiting with no deadline."""
    state = await flow.to_production(invoice_ocr())
    await flow.env.sleep(_dt(state["next_review_due"]) - _dt(state["updated_at"]) + timedelta(hours=1))
    state = await flow.review(REVIEW_CONTINUE | {"proposal": "reassess"})
    assert state["status"] == "changes_requested"
    assert [(w["kind"], w["ref"]) for w in state["waiting"]] == [("stage", "changes_requested")]
    await flow.env.sleep(timedelta(days=5, hours=1))
    assert flow.notices("owner@example.com", "stage_reminder") and flow.notices("req@example.com", "stage_reminder")
    await flow.env.sleep(timedelta(days=5))
    assert flow.notices("aims@example.com", "stage_stalled")
    with transaction(flow.database_url) as session:
        stalled = [item for item in queries.stalled(session) if item["use_case_id"] == flow.id]
    assert [(item["kind"], item["label"]) for item in stalled] == [("stage", "a revision (changes requested)")]
    await flow.env.sleep(timedelta(days=10))
    assert flow.notices("exec@example.com", "stage_escalated")
    assert (await flow.state())["status"] == "changes_requested"  # waiting, never decided by the clock
