"""The intake form: a new use case, or a revision of one, with a live classification preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aims.domain.commands import ReviseIntake
from aims.application.errors import ServiceError
from api.web import intake_form
from api.web.auth import PageService, ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()


async def _intake_from(request: Request) -> tuple[dict[str, list[str]], dict[str, Any]]:
    form = await request.form()
    values = {key: [str(value) for value in form.getlist(key)] for key in form.keys()}
    return values, intake_form.parse(values)


def _first(values: dict[str, list[str]], key: str, default: str = "") -> str:
    return (values.get(key) or [default])[0]


@router.get("/use-cases/new", response_class=HTMLResponse)
def new_use_case(
    request: Request, viewer: ViewerDep, service: PageService, revise: Annotated[str, Query(max_length=36)] = ""
) -> HTMLResponse:
    """The intake form; `?revise=<id>` pre-fills it with that use case's current intake."""
    values = {"business_owner": [viewer.user.email]}
    if revise:
        values = intake_form.values_of(service.detail(revise)["intake"] or {}) | {"revise": [revise]}
    return render(request, "new.html", viewer, sections=intake_form.sections(), values=values, errors={})


@router.post("/use-cases/preview", response_class=HTMLResponse)
async def preview_fragment(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    _, body = await _intake_from(request)
    intake, errors = intake_form.validate(body)
    preview = service.preview(intake) if intake else None
    return render(request, "_preview.html", viewer, preview=preview, preview_errors=errors)


@router.post("/use-cases/new", response_model=None)
async def submit_use_case(request: Request, viewer: ViewerDep, service: PageService) -> Response:
    values, body = await _intake_from(request)
    check_csrf(viewer, _first(values, "csrf"))
    intake, errors = intake_form.validate(body)
    preview = service.preview(intake) if intake else None
    revising = _first(values, "revise")
    if intake is not None and _first(values, "action", "submit") == "submit":
        try:
            if revising:
                command = ReviseIntake(actor=service.actor, intake=intake, reason=_first(values, "reason")[:4000])
                await service.act(revising, command, None)
                return RedirectResponse(f"/use-cases/{revising}?msg=Revision submitted", status_code=303)
            created = await service.create(intake, None)
            return RedirectResponse(f"/use-cases/{created['id']}?msg=Submitted", status_code=303)
        except ServiceError as error:
            if error.field is None:
                raise
            errors = {error.field: error.message}
    return render(
        request, "new.html", viewer, status_code=422 if errors else 200, sections=intake_form.sections(),
        values=values, errors=errors, preview=preview, preview_errors=errors,
    )  # fmt: skip
