"""The approver's queue, the AIMS owner's stalled view and the system audit trail, and everyone's notifications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from aims import audit
from aims.domain.bounds import LIMIT_MAX, OFFSET_MAX
from aims.domain.listening import NotificationSettings
from api.deps import CurrentUser, ServiceDep

router = APIRouter(prefix="/api", tags=["approvals"])


@router.get("/me")
async def me(user: CurrentUser) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "roles": user.roles, "slack_user_id": user.slack_user_id}


@router.get("/me/notifications")
def notification_settings(request: Request, service: ServiceDep) -> dict[str, Any]:
    """How you hear from aims: the channels configured here and which you listen on, and
    whether notices wait for one daily digest."""
    return service.listening(request.app.state.settings.channel_names)


@router.put("/me/notifications")
def change_notification_settings(request: Request, body: NotificationSettings, service: ServiceDep) -> dict[str, Any]:
    """Mute channels (the inbox always has everything), or choose one daily digest."""
    return service.listen(body, request.app.state.settings.channel_names)


@router.get("/approvals/pending")
def pending(service: ServiceDep) -> list[dict[str, Any]]:
    """Gates you may decide now, oldest first."""
    return service.pending_approvals()


@router.get("/approvals/stalled")
def stalled(service: ServiceDep) -> list[dict[str, Any]]:
    """Everything past its deadline (gates, triages, waiting statuses, re-reviews): AIMS owner and admins."""
    return service.stalled()


@router.get("/audit/system")
def system_audit_trail(service: ServiceDep) -> dict[str, Any]:
    """Every user, role and token change, hash-chained, with who made it: AIMS owner and admins."""
    return service.system_trail()


@router.get("/notifications")
def notifications(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> list[dict[str, Any]]:
    """Your inbox: every notice for you, newest first, with how each channel delivered it."""
    rows = service.notifications(limit, offset)
    return [
        {
            "id": n.id, "use_case_id": n.use_case_id, "kind": n.kind, "subject": n.subject, "gate_id": n.gate_id,
            "data": n.data, "created_at": audit.iso(n.created_at),
            "deliveries": [
                {"channel": d.channel, "delivered_at": audit.iso(d.delivered_at) if d.delivered_at else None,
                 "error": d.error}  # fmt: skip
                for d in n.deliveries
            ],
        }  # fmt: skip
        for n in rows
    ]
