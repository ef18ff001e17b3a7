"""One use case: classification and why, gates, documents, the audit trail, and a form for
every action the viewer may take now (the domain says which)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from pydantic import ValidationError

from aims.domain import actions, wording
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.commands import DecideGate
from aims.application.form_errors import plain
from api.deps import GateId, UseCaseId
from aims.application.errors import REFUSALS, ServiceError
from aims.application.service import UseCaseService
from api.routes.actions import ACTIONS_BY_NAME
from api.web import documents, flash, submissions
from api.web.auth import PageService, Viewer, ViewerDep, check_csrf
from api.web.forms import FORMS
from api.web.pages.approvals import approval_queue
from api.web.render import NOTHING_SUBMITTED, render, submitted

router = APIRouter()


@router.get("/use-cases/{use_case_id}", response_class=HTMLResponse)
def use_case_page(request: Request, use_case_id: UseCaseId, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    return _page(request, use_case_id, viewer, service)


def _page(
    request: Request, use_case_id: str, viewer: Viewer, service: UseCaseService, submitted: dict[str, Any] | None = None,
    status_code: int = 200, error: str | None = None,
) -> HTMLResponse:
    state = service.detail(use_case_id)
    trail = service.audit_trail(use_case_id)
    you = state["you"]
    return render(
        request, "use_case.html", viewer, status_code, state=state, trail=trail, decidable=set(you["decidable_gates"]),
        available=set(you["actions"]), controls=ANNEX_A_CONTROLS,
        submitted=submitted or NOTHING_SUBMITTED, error=error,
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
    registered = ACTIONS_BY_NAME[action]
    try:
        body = registered.body.model_validate(FORMS[action](form))
        key = submissions.idempotency_key(str(form.get(submissions.FIELD, "")))
        detail = await service.act(use_case_id, registered.command(service.actor, body, {}), key)
    except ValidationError as error:
        return await _form_again(request, use_case_id, viewer, service, action, form, _field_errors(error))
    except ServiceError as error:
        if error.code not in REFUSALS:
            raise
        errors = {"form": error.message}
        return await _form_again(request, use_case_id, viewer, service, action, form, errors, error.status)
    return flash.redirect(request, f"/use-cases/{use_case_id}", flash.recorded(registered.done, detail))


async def _form_again(
    request: Request, use_case_id: str, viewer: Viewer, service: UseCaseService, action: str, form: FormData,
    errors: dict[str, str], status_code: int = 422,
) -> HTMLResponse:
    """The page again, the refused form open with what was typed and each error beside its field."""
    typed = submitted(action, {key: form.getlist(key) for key in form if key != "csrf"}, errors)
    return await run_in_threadpool(_page, request, use_case_id, viewer, service, typed, status_code)


def _field_errors(error: ValidationError) -> dict[str, str]:
    """Errors by the form field they belong to (`evidence_SEC-2` for a blocker's evidence link)."""
    errors: dict[str, str] = {}
    for item in error.errors():
        # Skip the tags pydantic adds for a union's members ("literal['']").
        location = [str(part) for part in item["loc"] if not (isinstance(part, str) and "[" in part)]
        if location[:1] == ["blocker_resolutions"] and len(location) == 3:
            name = f"{location[2].removesuffix('_url')}_{location[1]}"
        else:
            name = next((part for part in reversed(location) if not part.isdigit()), "form")
        errors.setdefault(name, plain(item))
    return errors


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
    submission: submissions.Submission = "",
) -> Response:
    check_csrf(viewer, csrf)
    key = submissions.idempotency_key(submission)
    try:
        body = actions.GateDecision.model_validate({"decision": decision, "comment": comment})
    except ValidationError:
        raise ServiceError("invalid", "decision: choose approve, reject or request changes", field="decision") from None
    command = DecideGate(actor=service.actor, gate_id=gate_id, body=body, version=version)
    try:
        detail = await service.act(use_case_id, command, key)
    except ServiceError as error:
        if error.code not in REFUSALS:
            raise
        # The page the button was on, saying why, the comment still in its box.
        refused = submitted("decide", {"comment": [comment]}, use_case=use_case_id, gate=gate_id)
        message = f"Not recorded: {error.message}."
        if back == "approvals":
            return await run_in_threadpool(approval_queue, request, viewer, service, message, refused, error.status)
        return await run_in_threadpool(_page, request, use_case_id, viewer, service, refused, error.status, message)
    target = "/approvals" if back == "approvals" else f"/use-cases/{use_case_id}"
    gate = next((g for g in detail["gates"] if g["id"] == gate_id), None)
    which = f"the {wording.role_name(gate['role'])} {gate['kind'].replace('_', ' ')} gate" if gate else f"gate {gate_id}"
    verb = {"approve": "approved", "reject": "rejected", "request_changes": "requested changes on"}[body.decision]
    return flash.redirect(request, target, flash.recorded(f"you {verb} {which}", detail, gate["version"] if gate else None))
