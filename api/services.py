"""What the API and the web pages do, once: reads from the register, actions to the workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from aims import audit
from aims.domain import actions, lifecycle
from aims.domain.assessment_draft import draft_assessment
from aims.domain.classification import Classification, classify, review_roles
from aims.domain.intake import Intake
from aims.domain.lifecycle import TERMINAL, Actor
from aims.domain.policy import Policy
from aims.persistence import models, repository
from api.errors import ServiceError
from api.lifecycle_client import LifecycleClient, request_id, use_case_id_for


class ClassificationPreview(BaseModel):
    classification: Classification
    review_roles: list[str]
    final_role: str | None


@dataclass
class UseCaseService:
    session: Session
    lifecycle: LifecycleClient
    user: models.User
    policy: Policy

    @property
    def actor(self) -> Actor:
        return Actor(email=self.user.email, roles=list(self.user.roles))

    # ------------------------------------------------------------ intake

    def preview(self, intake: Intake) -> ClassificationPreview:
        classification = classify(intake, self.policy)
        review, final = review_roles(classification, intake, self.policy)
        return ClassificationPreview(classification=classification, review_roles=review, final_role=final)

    async def create(self, intake: Intake, idempotency_key: str | None) -> dict[str, Any]:
        self._require_known_owner(intake)
        use_case_id = use_case_id_for(self.user.email, idempotency_key)
        self.session.commit()
        return await self.lifecycle.start(use_case_id, self.user.email, intake.model_dump(mode="json"))

    # ------------------------------------------------------------ reads

    def get(self, use_case_id: str) -> dict[str, Any]:
        return self._row(use_case_id).state

    def register(self, **filters: Any) -> tuple[int, list[models.UseCase]]:
        total, rows = repository.list_use_cases(self.session, **filters)
        return total, list(rows)

    def assessment_draft(self, use_case_id: str) -> dict[str, Any]:
        state = self._row(use_case_id).state
        intake = Intake.model_validate(state["intake"])
        return draft_assessment(intake, Classification.model_validate(state["classification"]), self.policy)

    def audit_trail(self, use_case_id: str) -> dict[str, Any]:
        self._row(use_case_id)
        events = repository.audit_events(self.session, use_case_id)
        verified, broken = audit.verify_chain(events)
        return {
            "use_case_id": use_case_id,
            "verified": verified,
            "first_broken_seq": broken,
            "events": [
                {
                    "seq": e.seq,
                    "type": e.type,
                    "actor": e.actor,
                    "at": audit.iso(e.at),
                    "version": e.version,
                    "data": e.data,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in events
            ],
        }

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Open gates the caller may decide: their role, and not their own use case."""
        rows = repository.open_gates(self.session, roles=list(self.user.roles))
        return [
            _gate_item(gate, use_case)
            for gate, use_case in rows
            if self.user.email not in (use_case.requester, use_case.business_owner)
        ]

    def stalled(self) -> dict[str, Any]:
        if not {"aims_owner", "admin"} & set(self.user.roles):
            raise ServiceError("forbidden", "the stalled view is for the AIMS owner and admins")
        gates = [_gate_item(gate, use_case) for gate, use_case in repository.open_gates(self.session, stalled_only=True)]
        reviews = [
            {
                "use_case_id": row.id,
                "name": row.name,
                "business_owner": row.business_owner,
                "status": row.status,
                "review": row.state["review"],
            }
            for row in repository.overdue_reviews(self.session)
        ]
        return {"gates": gates, "reviews": reviews}

    def notifications(self, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = repository.notifications_for(self.session, self.user.email, limit=limit, offset=offset)
        return [
            {
                "id": n.id,
                "use_case_id": n.use_case_id,
                "kind": n.kind,
                "subject": n.subject,
                "gate_id": n.gate_id,
                "data": n.data,
                "created_at": audit.iso(n.created_at),
                "channel": n.channel,
                "delivered_at": audit.iso(n.delivered_at) if n.delivered_at else None,
            }
            for n in rows
        ]

    # ------------------------------------------------------------ actions

    async def decide(
        self, use_case_id: str, gate_id: str, body: actions.GateDecision, version: int | None, key: str | None
    ) -> dict[str, Any]:
        row = self._row(use_case_id)
        gate = self.session.get(models.Gate, (use_case_id, gate_id))
        if gate is None:
            raise ServiceError("not_found", f"gate {gate_id!r} does not exist on this use case")
        if gate.state != "open" and key is None:
            raise ServiceError("conflict", f"gate {gate_id} is not open: it is {gate.state}")
        command = lifecycle.DecideGate(actor=self.actor, gate_id=gate_id, body=body, version=version)
        return await self._send(row, "decide_gate", command, key)

    async def submit_assessment(self, use_case_id: str, body: actions.Assessment, key: str | None) -> dict[str, Any]:
        command = lifecycle.SubmitAssessment(actor=self.actor, assessment=body)
        return await self._send(self._row(use_case_id), "submit_assessment", command, key)

    async def revise(self, use_case_id: str, intake: Intake, reason: str, key: str | None) -> dict[str, Any]:
        self._require_known_owner(intake)
        command = lifecycle.ReviseIntake(actor=self.actor, intake=intake.model_dump(mode="json"), reason=reason)
        return await self._send(self._row(use_case_id), "revise_intake", command, key)

    async def sign_off(self, use_case_id: str, body: actions.SignOff, key: str | None) -> dict[str, Any]:
        command = lifecycle.SignOffCommand(actor=self.actor, body=body)
        return await self._send(self._row(use_case_id), "sign_off", command, key)

    async def review(self, use_case_id: str, body: actions.ReviewAnswer, key: str | None) -> dict[str, Any]:
        command = lifecycle.SubmitReview(actor=self.actor, body=body)
        return await self._send(self._row(use_case_id), "submit_review", command, key)

    async def incident(self, use_case_id: str, body: actions.Incident, key: str | None) -> dict[str, Any]:
        command = lifecycle.ReportIncident(actor=self.actor, body=body)
        return await self._send(self._row(use_case_id), "report_incident", command, key)

    async def decommission(
        self, use_case_id: str, body: actions.DecommissionRequest, key: str | None
    ) -> dict[str, Any]:
        command = lifecycle.RequestDecommission(actor=self.actor, body=body)
        return await self._send(self._row(use_case_id), "request_decommission", command, key)

    async def checklist(self, use_case_id: str, body: actions.DecommissionChecklist, key: str | None) -> dict[str, Any]:
        command = lifecycle.ConfirmChecklist(actor=self.actor, body=body)
        return await self._send(self._row(use_case_id), "confirm_checklist", command, key)

    # ------------------------------------------------------------ internals

    def _row(self, use_case_id: str) -> models.UseCase:
        row = repository.get_use_case(self.session, use_case_id)
        if row is None:
            raise ServiceError("not_found", f"no use case {use_case_id!r}")
        return row

    async def _send(self, row: models.UseCase, update: str, command: Any, key: str | None) -> dict[str, Any]:
        if row.status in TERMINAL and key is None:
            raise ServiceError("conflict", f"the use case is {row.status} and accepts no further changes")
        update_id = request_id(update, row.id, self.user.email, key)
        # Never hold a database connection while the workflow works: give it back first.
        self.session.commit()
        return await self.lifecycle.update(row.id, update, command, update_id)

    def _require_known_owner(self, intake: Intake) -> None:
        if repository.user_by_email(self.session, intake.business_owner) is None:
            raise ServiceError(
                "invalid", f"{intake.business_owner} is not a known user; add them first", field="business_owner"
            )


def _gate_item(gate: models.Gate, use_case: models.UseCase) -> dict[str, Any]:
    return {
        "use_case_id": use_case.id,
        "name": use_case.name,
        "aims_tier": use_case.aims_tier,
        "regulatory_category": use_case.regulatory_category,
        "requester": use_case.requester,
        "business_owner": use_case.business_owner,
        "gate_id": gate.gate_id,
        "role": gate.role,
        "kind": gate.kind,
        "version": gate.version,
        "opened_at": audit.iso(gate.opened_at) if gate.opened_at else None,
        "due_at": audit.iso(gate.due_at) if gate.due_at else None,
        "stalled": gate.escalation_level >= 2,
        "escalation_level": gate.escalation_level,
    }
