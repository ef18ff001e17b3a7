"""Driving one use case's workflow the way the API does, and reading the register it writes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from aims.domain import actions, commands
from aims.domain.intake import Intake
from aims.domain.messages import Ack, ClassifyResult, UseCaseInput, workflow_id
from aims.domain.state import Actor
from aims.persistence import models, queries
from aims.persistence.db import transaction
from aims.settings import current_policy
from tests import people
from tests.intakes import ASSESSMENT, REVIEW_CONTINUE, SIGNOFF
from tests.people import AIMS, EXEC, LEGAL, OWNER, REQ, RISK, SECURITY


class Flow:
    """Drives one use case the way the API does: start, then `act` Updates carrying the actor;
    answers with the register's view, which the workflow wrote before it answered."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str, database_url: str):
        self.env, self.task_queue, self.database_url = env, task_queue, database_url
        self.handle: WorkflowHandle | None = None
        self.id = ""

    async def start(
        self, intake: dict[str, Any], requester: Actor = REQ, lean: bool = True, classified: bool = True
    ) -> dict[str, Any]:
        """Start as the gateway does; `lean=False` or `classified=False`: as code did before the
        input said it is lean, or carried the API's classification."""
        self.id = str(uuid.uuid4())
        model = Intake.model_validate(intake)
        self.handle = await self.env.client.start_workflow(
            "UseCaseLifecycle",
            UseCaseInput(
                use_case_id=self.id, requester=requester.email, intake=model, lean=lean,
                classified=ClassifyResult.of(model, current_policy()) if classified else None,
            ),  # fmt: skip
            id=workflow_id(self.id),
            task_queue=self.task_queue,
        )
        return await self.state()

    async def act(self, command: commands.Command, id: str | None = None) -> dict[str, Any]:
        handle = self.env.client.get_workflow_handle(workflow_id(self.id))
        await handle.execute_update("act", command, id=id, result_type=Ack)
        return self.detail()

    def detail(self) -> dict[str, Any]:
        with transaction(self.database_url) as session:
            row = queries.get_use_case(session, self.id)
            assert row is not None
            return queries.use_case_detail(session, row)

    async def decide(self, actor: Actor, gate: str, decision: str = "approve", comment: str = "", **kw: Any):
        body = actions.GateDecision(decision=decision, comment=comment)
        return await self.act(commands.DecideGate(actor=actor, gate_id=gate, body=body, **kw))

    async def assess(self, actor: Actor = OWNER, assessment: dict[str, Any] = ASSESSMENT):
        return await self.act(
            commands.SubmitAssessment(actor=actor, assessment=actions.Assessment.model_validate(assessment))
        )

    async def sign_off(self, body: dict[str, Any] = SIGNOFF, actor: Actor = OWNER):
        return await self.act(commands.SignOffDeployment(actor=actor, body=actions.SignOff.model_validate(body)))

    async def revise(self, intake: dict[str, Any], actor: Actor = REQ, reason: str = "fix", classified: bool = True):
        """Classified as the API does (`classified=False`: as Updates sent before it did)."""
        command = commands.ReviseIntake(actor=actor, intake=intake, reason=reason)
        if classified:
            return await self.act(command.classified(ClassifyResult.of(command.intake, current_policy())))
        return await self.act(command)

    async def review(self, answer: dict[str, Any] = REVIEW_CONTINUE, actor: Actor = OWNER):
        return await self.act(commands.SubmitReview(actor=actor, body=actions.ReviewAnswer.model_validate(answer)))

    async def incident(self, severity: str, actor: Actor = REQ):
        body = actions.Incident(severity=severity, description=f"{severity} incident")
        return await self.act(commands.ReportIncident(actor=actor, body=body))

    async def state(self) -> dict[str, Any]:
        handle = self.env.client.get_workflow_handle(workflow_id(self.id))
        await handle.execute_update("sync", result_type=Ack)
        return self.detail()

    def row(self) -> models.UseCase:
        with transaction(self.database_url) as session:
            row = queries.get_use_case(session, self.id)
            assert row is not None
            return row

    def notices(self, recipient: str, kind: str) -> list[models.Notification]:
        with transaction(self.database_url) as session:
            rows = queries.notifications_for(session, recipient, use_case_id=self.id)
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
            state = await self.decide(decider(gate["role"]), gate["id"])
        assert state["status"] == "approved"
        return await self.sign_off()


def decider(role: str) -> Actor:
    return {"risk": RISK, "security": SECURITY, "legal": LEGAL, "executive": EXEC, "aims_owner": AIMS,
            "privacy": people.PRIVACY}[role]  # fmt: skip

