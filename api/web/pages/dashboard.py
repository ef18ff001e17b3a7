"""Everyone's start page: my use cases and where each stands, gates waiting for me, what else my use cases wait for
from me, re-reviews I owe."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aims.application.drafting import Drafting
from aims.persistence.queries import RegisterFilter
from api.web.auth import PageService, ViewerDep
from api.web.render import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    _, my_cases = service.register(RegisterFilter(), involving=viewer.user.email, limit=500)
    return render(
        request, "dashboard.html", viewer, cases=my_cases, waiting=service.waiting_on([c.id for c in my_cases]),
        gates=service.pending_approvals(),
        stages=service.stages_owed(), reviews=service.reviews_owed(), drafts=Drafting(service).drafts(),
    )
