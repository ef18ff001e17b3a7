"""REST endpoints of the register and the lifecycle actions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from aims.domain import actions
from aims.domain.intake import Intake
from api.deps import IdempotencyKey, ServiceDep
from api.services import ClassificationPreview

router = APIRouter(prefix="/api", tags=["use cases"])

State = dict[str, Any]


class Revision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intake: Intake
    reason: str = Field(default="", max_length=2000)


class Decision(actions.GateDecision):
    version: int | None = Field(default=None, description="The version you looked at; refused if stale")


class RegisterItem(BaseModel):
    id: str
    name: str
    status: str
    aims_tier: str
    regulatory_category: str
    version: int
    requester: str
    business_owner: str
    policy_version: str
    next_review_due: str | None
    updated_at: str


class RegisterPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[RegisterItem]


@router.post("/classify", response_model=ClassificationPreview)
def classify_intake(intake: Intake, service: ServiceDep) -> ClassificationPreview:
    """Classify an intake without creating anything."""
    return service.preview(intake)


@router.post("/use-cases", status_code=201)
async def create_use_case(intake: Intake, service: ServiceDep, key: IdempotencyKey = None) -> State:
    return await service.create(intake, key)


@router.get("/use-cases", response_model=RegisterPage)
def list_use_cases(
    service: ServiceDep,
    status: str | None = None,
    aims_tier: str | None = None,
    category: str | None = None,
    owner: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RegisterPage:
    total, rows = service.register(
        status=status, aims_tier=aims_tier, category=category, owner=owner, q=q, limit=limit, offset=offset
    )
    items = [
        RegisterItem(
            id=row.id,
            name=row.name,
            status=row.status,
            aims_tier=row.aims_tier,
            regulatory_category=row.regulatory_category,
            version=row.version,
            requester=row.requester,
            business_owner=row.business_owner,
            policy_version=row.policy_version,
            next_review_due=row.state["next_review_due"],
            updated_at=row.state["updated_at"],
        )
        for row in rows
    ]
    return RegisterPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/use-cases/{use_case_id}")
def get_use_case(use_case_id: str, service: ServiceDep) -> State:
    return service.get(use_case_id)


@router.get("/use-cases/{use_case_id}/audit")
def get_audit_trail(use_case_id: str, service: ServiceDep) -> dict[str, Any]:
    return service.audit_trail(use_case_id)


@router.get("/use-cases/{use_case_id}/assessment/draft")
def assessment_draft(use_case_id: str, service: ServiceDep) -> dict[str, Any]:
    """The risk and impact assessment pre-filled from the intake, for the owner to edit and submit."""
    return service.assessment_draft(use_case_id)


@router.post("/use-cases/{use_case_id}/assessment")
async def submit_assessment(
    use_case_id: str, body: actions.Assessment, service: ServiceDep, key: IdempotencyKey = None
) -> State:
    return await service.submit_assessment(use_case_id, body, key)


@router.post("/use-cases/{use_case_id}/revisions")
async def revise(use_case_id: str, body: Revision, service: ServiceDep, key: IdempotencyKey = None) -> State:
    return await service.revise(use_case_id, body.intake, body.reason, key)


@router.post("/use-cases/{use_case_id}/sign-off")
async def sign_off(use_case_id: str, body: actions.SignOff, service: ServiceDep, key: IdempotencyKey = None) -> State:
    return await service.sign_off(use_case_id, body, key)


@router.post("/use-cases/{use_case_id}/reviews")
async def submit_review(
    use_case_id: str, body: actions.ReviewAnswer, service: ServiceDep, key: IdempotencyKey = None
) -> State:
    return await service.review(use_case_id, body, key)


@router.post("/use-cases/{use_case_id}/incidents")
async def report_incident(
    use_case_id: str, body: actions.Incident, service: ServiceDep, key: IdempotencyKey = None
) -> State:
    return await service.incident(use_case_id, body, key)


@router.post("/use-cases/{use_case_id}/decommission")
async def request_decommission(
    use_case_id: str, body: actions.DecommissionRequest, service: ServiceDep, key: IdempotencyKey = None
) -> State:
    return await service.decommission(use_case_id, body, key)


@router.post("/use-cases/{use_case_id}/decommission/checklist")
async def confirm_checklist(
    use_case_id: str, body: actions.DecommissionChecklist, service: ServiceDep, key: IdempotencyKey = None
) -> State:
    return await service.checklist(use_case_id, body, key)


@router.post("/use-cases/{use_case_id}/gates/{gate_id}/decision")
async def decide_gate(
    use_case_id: str, gate_id: str, body: Decision, service: ServiceDep, key: IdempotencyKey = None
) -> State:
    decision = actions.GateDecision(decision=body.decision, comment=body.comment)
    return await service.decide(use_case_id, gate_id, decision, body.version, key)
