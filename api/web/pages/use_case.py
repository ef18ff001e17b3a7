"""One use case: classification and why, gates, documents, the audit trail, and a form for
every action the viewer may take now (the domain says which)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from aims.domain import actions
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.commands import DecideGate
from api.deps import GateId, UseCaseId
from aims.application.errors import ServiceError
from api.routes.actions import ACTIONS
from api.web import documents, flash
from api.web.auth import PageService, ViewerDep, check_csrf
from api.web.forms import FORMS
from api.web.render import render

router = APIRouter()
_ACTIONS = {action.name: action for action in ACTIONS}


@router.get("/use-cases/{use_case_id}", response_class=HTMLResponse)
def use_case_page(request: Request, use_case_id: UseCaseId, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    state = service.detail(use_case_id)
    trail = service.audit_trail(use_case_id)
    you = state["you"]
    return render(
        request, "use_case.html", viewer, state=state, trail=trail, decidable=set(you["decidable_gates"]),
        available=set(you["actions"]), controls=ANNEX_A_CONTROLS,
    )  # fmt: skip


@router.get("/use-cases/{use_case_id}/evidence", response_class=HTMLResponse)
def evidence_pack_page(use_case_id: UseCaseId, service: PageService) -> HTMLResponse:
    """The evidence pack to read or print (the same document as the PDF)."""
    return documents.html_response(service, documents.evidence_pack(service, use_case_id), "evidence_pack",
                                   use_case_id=use_case_id)  # fmt: skip


@router.get("/use-cases/{use_case_id}/evidence.pdf", response_class=Response)
def evidence_pack_pdf(use_case_id: UseCaseId, service: PageService) -> Response:
    html = documents.evidence_pack(service, use_case_id)
    return documents.pdf_response(service, html, f"aims-evidence-pack-{use_case_id}", "evidence_pack",
                                  use_case_id=use_case_id)  # fmt: skip


@router.post("/use-cases/{use_case_id}/actions/{action}", response_model=None)
async def act(
    request: Request,
    use_case_id: UseCaseId,
    action: Annotated[str, Path(max_length=32)],
    viewer: ViewerDep,
    service: PageService,
) -> Response:
    form = await request.form()
    check_csrf(viewer, str(form.get("csrf", "")))
    if action not in FORMS:
        raise ServiceError("not_found", f"unknown action {action!r}")
    registered = _ACTIONS[action]
    try:
        body = registered.body.model_validate(FORMS[action](form))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ServiceError("invalid", f"{where}: {first['msg']}", field=where) from None
    detail = await service.act(use_case_id, registered.command(service.actor, body, {}), None)
    return flash.redirect(request, f"/use-cases/{use_case_id}", _recorded(action.replace("_", " "), detail))


@router.post("/use-cases/{use_case_id}/gates/{gate_id}/decision", response_model=None)
async def decide(
    request: Request,
    use_case_id: UseCaseId,
    gate_id: GateId,
    viewer: ViewerDep,
    service: PageService,
    decision: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
    version: Annotated[int | None, Form(ge=1)] = None,
    csrf: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    check_csrf(viewer, csrf)
    try:
        body = actions.GateDecision.model_validate({"decision": decision, "comment": comment})
    except ValidationError:
        raise ServiceError("invalid", "decision: choose approve, reject or request changes", field="decision") from None
    command = DecideGate(actor=service.actor, gate_id=gate_id, body=body, version=version)
    detail = await service.act(use_case_id, command, None)
    target = "/approvals" if back == "approvals" else f"/use-cases/{use_case_id}"
    gate = next((g for g in detail["gates"] if g["id"] == gate_id), None)
    which = f"the {gate['role']} {gate['kind'].replace('_', ' ')} gate" if gate else f"gate {gate_id}"
    version = f" (version {gate['version']})" if gate else ""
    verb = {"approve": "approved", "reject": "rejected", "request_changes": "requested changes on"}[body.decision]
    return flash.redirect(request, target, _recorded(f"you {verb} {which} of {detail['name']}{version}", detail))


def _recorded(what: str, detail: dict[str, Any]) -> str:
    """'Recorded: you approved the risk review gate of Invoice OCR (version 1). Status: in review.'"""
    return f"Recorded: {what}. Status: {detail['status'].replace('_', ' ')}."
