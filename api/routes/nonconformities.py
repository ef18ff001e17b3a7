"""Nonconformities and corrective actions (ISO/IEC 42001 clause 10.2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from aims.application.nonconformities import NonconformityService
from aims.domain import nonconformity as nc
from api.deps import CurrentUser, IdempotencyKey

router = APIRouter(prefix="/api/nonconformities", tags=["nonconformities"])
Number = Annotated[int, Path(ge=1, le=10**9, description="the nonconformity's number")]


async def get_service(request: Request, user: CurrentUser) -> NonconformityService:
    return NonconformityService(request.app.state.settings.database_url, user, request.app.state.gateway)


ServiceDep = Annotated[NonconformityService, Depends(get_service)]


@router.get("")
def listed(
    service: ServiceDep,
    status: Annotated[Literal["open", "action_open", "effectiveness_check", "closed"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Newest first; `late` when past the due date (the stalled view lists those too)."""
    return service.listed(status)


@router.post("", status_code=201)
async def raise_nonconformity(body: nc.RaiseNonconformity, service: ServiceDep, key: IdempotencyKey = None) -> dict[str, Any]:
    """Raise a nonconformity with its corrective action (AIMS owner and governance roles); once
    per Idempotency-Key."""
    return await service.raise_(body, key)


@router.get("/{number}")
def one(number: Number, service: ServiceDep) -> dict[str, Any]:
    return service.one(number)


@router.post("/{number}/completion")
async def complete(number: Number, body: nc.CompleteAction, service: ServiceDep) -> dict[str, Any]:
    """The action's owner says it is done; an AIMS owner then checks its effectiveness."""
    return await service.act(number, nc.NcCommand(actor=service.actor, kind="complete", complete=body))


@router.post("/{number}/effectiveness")
async def check_effectiveness(number: Number, body: nc.CheckEffectiveness, service: ServiceDep) -> dict[str, Any]:
    """Effective: closed. Not effective: reopened with `next_action` (an AIMS owner, not the action's owner)."""
    return await service.act(number, nc.NcCommand(actor=service.actor, kind="check", check=body))
