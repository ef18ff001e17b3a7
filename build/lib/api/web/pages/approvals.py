"""An approver's queue, oldest first, with the decide buttons."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.web.auth import PageService, ViewerDep
from api.web.render import age_days, render

router = APIRouter()


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    gates = service.pending_approvals()
    for gate in gates:
        gate["age_days"] = age_days(gate["opened_at"], now)
    return render(request, "approvals.html", viewer, gates=gates)
