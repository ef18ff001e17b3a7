"""An approver's queue, oldest first, with the decide buttons."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aims.application.service import UseCaseService
from api.web.auth import PageService, Viewer, ViewerDep
from api.web.render import NOTHING_SUBMITTED, render, waited

router = APIRouter()


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    return approval_queue(request, viewer, service)


def approval_queue(
    request: Request, viewer: Viewer, service: UseCaseService, error: str | None = None,
    submitted: dict[str, Any] | None = None, status_code: int = 200,
) -> HTMLResponse:
    """The queue; after a refused decision, why, with the comment still in its gate's box."""
    now = dt.datetime.now(dt.UTC)
    gates = service.pending_approvals()
    for gate in gates:
        gate["waited"] = waited(gate["opened_at"], now)
    return render(request, "approvals.html", viewer, status_code, gates=gates, error=error,
                  submitted=submitted or NOTHING_SUBMITTED)  # fmt: skip
