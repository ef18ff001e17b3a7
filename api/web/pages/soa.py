"""The Statement of Applicability page: the version in force, the waiting proposal with the
executive's decision form, the history; CSV and PDF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aims.domain.bounds import TEXT_MAX
from aims.domain.soa import DECIDER_ROLE, SoaDecision
from api.routes.soa import soa_as_csv, soa_document, soa_service
from api.web import documents
from api.web.auth import ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()


@router.get("/soa", response_class=HTMLResponse)
def soa_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    soa = soa_service(request, viewer.user).read()
    may_decide = DECIDER_ROLE in viewer.user.roles and bool(soa["waiting"]) and (
        soa["waiting"]["proposed_by"] != viewer.user.email
    )
    return render(request, "soa.html", viewer, soa=soa, may_decide=may_decide)


@router.get("/soa.pdf", response_class=Response)
def soa_pdf(request: Request, viewer: ViewerDep) -> Response:
    service = soa_service(request, viewer.user)
    return documents.pdf_response(service, soa_document(service), "aims-soa", "soa")


@router.get("/soa.csv", response_class=Response)
def soa_csv(request: Request, viewer: ViewerDep) -> Response:
    csv = soa_as_csv(soa_service(request, viewer.user).read())
    return Response(csv, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="aims-soa.csv"'})


@router.post("/soa/proposals/{number}/decision", response_model=None)
async def decide(
    request: Request,
    viewer: ViewerDep,
    number: Annotated[int, Path(ge=1, le=10**9)],
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    csrf: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form(max_length=TEXT_MAX)] = "",
) -> Response:
    check_csrf(viewer, csrf)
    try:
        body = SoaDecision(decision=decision, comment=comment)  # type: ignore[arg-type]
    except ValueError:
        return RedirectResponse("/soa?msg=Say+why+the+proposal+is+rejected+%28comment%29", status_code=303)
    await soa_service(request, viewer.user).decide(number, body)
    outcome = "approved" if decision == "approve" else "rejected"
    return RedirectResponse(f"/soa?msg=Proposal+{number}+{outcome}", status_code=303)
