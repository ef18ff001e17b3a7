"""The Statement of Applicability page: the version in force, the waiting proposal with the
executive's decision form, the history; CSV and PDF; and the AIMS owner's form to propose a
new version, control by control, pre-filled with the version in force."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from aims.application.form_errors import plain
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.bounds import SHORT_MAX, TEXT_MAX
from aims.domain.soa import DECIDER_ROLE, SoaDecision, SoaProposal
from api.routes.soa import soa_as_csv, soa_document, soa_service
from api.web import documents, flash, submissions
from api.web.auth import ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()


@router.get("/soa", response_class=HTMLResponse)
def soa_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    soa = soa_service(request, viewer.user).read()
    may_decide = DECIDER_ROLE in viewer.user.roles and bool(soa["waiting"]) and (
        soa["waiting"]["proposed_by"] != viewer.user.email
    )
    may_propose_now = "aims_owner" in viewer.user.roles and not soa["waiting"]
    return render(request, "soa.html", viewer, soa=soa, may_decide=may_decide, may_propose=may_propose_now)


@router.get("/soa/propose", response_class=HTMLResponse)
def propose_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The AIMS owner's form for a new version, pre-filled with the version in force."""
    service = soa_service(request, viewer.user)
    service.require_may_propose()
    soa = service.read()
    entries = [{key: value for key, value in c.items() if key not in ("title", "cited_by")} for c in soa["controls"]]
    return _proposal_form(request, viewer, soa, entries, "", {})


@router.post("/soa/propose", response_model=None)
async def propose(request: Request, viewer: ViewerDep) -> Response:
    form = await request.form()
    check_csrf(viewer, str(form.get("csrf", "")))
    service = soa_service(request, viewer.user)
    entries = [_entry(form, control) for control in ANNEX_A_CONTROLS]
    note = str(form.get("note", "")).strip()[:SHORT_MAX]
    try:
        proposal = SoaProposal.model_validate({"entries": entries, "note": note})
    except ValidationError as error:
        service.require_may_propose()
        return _proposal_form(request, viewer, service.read(), entries, note, _errors(error), 422)
    # The form sent twice is proposed once; propose() checks who may propose now.
    key = submissions.idempotency_key(str(form.get(submissions.FIELD, "")))
    proposed = await service.propose(proposal, key)
    number = proposed["waiting"]["number"] if proposed.get("waiting") else ""
    return flash.redirect(request, "/soa", f"Proposal {number} is waiting for an executive")


def _entry(form: Any, control: str) -> dict[str, Any]:
    applicable = str(form.get(f"{control}.applicable", ""))
    return {
        "control": control,
        "applicable": {"yes": True, "no": False}.get(applicable, applicable),
        "justification": str(form.get(f"{control}.justification", "")).strip(),
        "implementation": str(form.get(f"{control}.implementation", "")).strip() or None,
        "owner": str(form.get(f"{control}.owner", "")).strip() or None,
        "evidence": [line.strip() for line in str(form.get(f"{control}.evidence", "")).splitlines() if line.strip()],
    }


def _errors(error: ValidationError) -> dict[str, str]:
    """Errors by control id (and field): `A.6.2.4.owner`, or `A.6.2.4` for the control as a whole."""
    found: dict[str, str] = {}
    controls = list(ANNEX_A_CONTROLS)
    for item in error.errors():
        location = list(item["loc"])
        message = "choose applicable or excluded" if item["type"] == "bool_parsing" else plain(item)
        if len(location) >= 2 and location[0] == "entries" and isinstance(location[1], int):
            key = ".".join([controls[location[1]], *(str(part) for part in location[2:3])])
        else:
            key = str(location[0]) if location else "form"
        found.setdefault(key, message)
    return found


def _proposal_form(
    request: Request, viewer: ViewerDep, soa: dict[str, Any], entries: list[dict[str, Any]], note: str,
    errors: dict[str, str], status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return render(request, "soa_propose.html", viewer, status_code=status_code, soa=soa, note=note, errors=errors,
                  entries=zip(entries, ANNEX_A_CONTROLS.values(), strict=True))  # fmt: skip


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
        return flash.redirect(request, "/soa", "Say why the proposal is rejected (comment)")
    await soa_service(request, viewer.user).decide(number, body)
    outcome = "approved" if decision == "approve" else "rejected"
    return flash.redirect(request, "/soa", f"Proposal {number} {outcome}")
