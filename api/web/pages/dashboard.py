"""Everyone's start page: my use cases, gates waiting for me, re-reviews I owe."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aims.application.drafting import Drafting
from aims.persistence.queries import RegisterFilter, state_of
from api.web.auth import PageService, ViewerDep
from api.web.render import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    email = viewer.user.email
    _, my_cases = service.register(RegisterFilter(), involving=email, limit=500, with_state=True)
    states = {row.id: state_of(row) for row in my_cases}
    reviews_owed = [
        (row, states[row.id].review)
        for row in my_cases
        if "review" in service.may(states[row.id])["actions"] and states[row.id].review is not None
    ]
    return render(
        request, "dashboard.html", viewer, cases=my_cases, gates=service.pending_approvals(), reviews=reviews_owed,
        drafts=Drafting(service).drafts(),
    )
