"""The business owner's risk and impact assessment, as a form: pre-filled from the previous
version's assessment or drafted from the intake, rows added and removed in place, errors next
to the field, nothing lost on a failed submit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aims.application.errors import ServiceError
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.bounds import LIST_MAX
from aims.domain.commands import SubmitAssessment
from api.deps import UseCaseId
from api.routes.actions import ACTIONS_BY_NAME
from api.web import assessment_form, flash, submissions
from api.web.auth import PageService, ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()


def _show(
    request: Request, viewer: ViewerDep, service: PageService, use_case_id: str, body: dict[str, Any],
    errors: dict[str, str], status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    state = service.detail(use_case_id)
    if "assessment" not in state["you"]["actions"]:
        raise ServiceError("forbidden", "the assessment is submitted by the business owner, while the use case waits for it")
    return render(request, "assessment.html", viewer, status_code=status_code, state=state, body=body, errors=errors,
                  controls=ANNEX_A_CONTROLS, scores=assessment_form.SCORES, treatments=assessment_form.TREATMENTS,
                  most=LIST_MAX)  # fmt: skip


@router.get("/use-cases/{use_case_id}/assessment", response_class=HTMLResponse)
def assessment_page(request: Request, use_case_id: UseCaseId, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    draft = service.assessment_draft(use_case_id)
    return _show(request, viewer, service, use_case_id, draft, {})


@router.post("/use-cases/{use_case_id}/assessment", response_model=None)
async def submit_assessment(request: Request, use_case_id: UseCaseId, viewer: ViewerDep, service: PageService) -> Response:
    form = await request.form()
    check_csrf(viewer, str(form.get("csrf", "")))
    body = assessment_form.parse(form)
    action = str(form.get("action", "submit"))
    if action != "submit":  # a row added or removed: the same form again, every answer kept
        return _show(request, viewer, service, use_case_id, assessment_form.change_rows(body, action), {})
    assessment, errors = assessment_form.validate(body)
    if assessment is None:
        return _show(request, viewer, service, use_case_id, body, errors, 422)
    try:
        key = submissions.idempotency_key(str(form.get(submissions.FIELD, "")))
        detail = await service.act(use_case_id, SubmitAssessment(actor=service.actor, assessment=assessment), key)
    except ServiceError as error:
        if error.code != "invalid":
            raise
        return _show(request, viewer, service, use_case_id, body, {"assessment": error.message}, error.status)
    return flash.redirect(request, f"/use-cases/{use_case_id}", flash.recorded(ACTIONS_BY_NAME["assessment"].done, detail))
