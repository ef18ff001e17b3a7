"""The approver's queue, the AIMS owner's stalled view, and everyone's notifications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, ServiceDep

router = APIRouter(prefix="/api", tags=["approvals"])


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "roles": user.roles, "slack_user_id": user.slack_user_id}


@router.get("/approvals/pending")
def pending(service: ServiceDep) -> list[dict[str, Any]]:
    return service.pending_approvals()


@router.get("/approvals/stalled")
def stalled(service: ServiceDep) -> dict[str, Any]:
    return service.stalled()


@router.get("/notifications")
def notifications(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    return service.notifications(limit, offset)
