"""Nonconformities and corrective actions: the list (with the form that raises one), and each
one with the forms its action owner and the AIMS owner use."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from aims.application.form_errors import plain
from aims.application.nonconformities import NonconformityService
from aims.domain import nonconformity as nc
from aims.domain.bounds import TEXT_MAX
from api.web import flash
from api.web.auth import ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()
Number = Annotated[int, Path(ge=1, le=10**9)]
Field = Annotated[str, Form(max_length=TEXT_MAX)]


def _service(request: Request, viewer: ViewerDep) -> NonconformityService:
    return NonconformityService(request.app.state.settings.database_url, viewer.user, request.app.state.gateway)


@router.get("/nonconformities", response_class=HTMLResponse)
def listed(request: Request, viewer: ViewerDep) -> HTMLResponse:
    items = _service(request, viewer).listed(None)
    may_raise = bool(nc.RAISING_ROLES & set(viewer.user.roles))
    return render(request, "nonconformities.html", viewer, items=items, may_raise=may_raise, form={}, errors={})


@router.post("/nonconformities", response_model=None)
async def raise_nonconformity(
    request: Request, viewer: ViewerDep, csrf: Field = "", source: Field = "", description: Field = "",
    use_case_id: Field = "", action_description: Field = "", action_owner: Field = "", action_due: Field = "",
) -> Response:  # fmt: skip
    check_csrf(viewer, csrf)
    form = {"source": source, "description": description, "use_case_id": use_case_id,
            "action_description": action_description, "action_owner": action_owner, "action_due": action_due}  # fmt: skip
    try:
        due = dt.datetime.fromisoformat(action_due).replace(tzinfo=dt.UTC) if action_due else None
        body = nc.RaiseNonconformity.model_validate({
            "source": source, "description": description, "use_case_id": use_case_id or None,
            "action": {"description": action_description, "owner": action_owner, "due_at": due},
        })  # fmt: skip
    except (ValidationError, ValueError) as error:
        errors = _errors(error)
        items = _service(request, viewer).listed(None)
        return render(request, "nonconformities.html", viewer, status_code=422, items=items, may_raise=True, form=form,
                      errors=errors, error="Please correct the fields marked below.")  # fmt: skip
    created = await _service(request, viewer).raise_(body)
    return flash.redirect(request, f"/nonconformities/{created['number']}", "Raised")


@router.get("/nonconformities/{number}", response_class=HTMLResponse)
def one(request: Request, viewer: ViewerDep, number: Number) -> HTMLResponse:
    item = _service(request, viewer).one(number)
    email, roles = viewer.user.email, set(viewer.user.roles)
    may_complete = item["status"] == "action_open" and item["action_owner"] == email
    may_check = item["status"] == "effectiveness_check" and nc.CHECKER_ROLE in roles and item["action_owner"] != email
    return render(request, "nonconformity.html", viewer, item=item, may_complete=may_complete, may_check=may_check)


@router.post("/nonconformities/{number}/completion", response_model=None)
async def complete(request: Request, viewer: ViewerDep, number: Number, csrf: Field = "", note: Field = "") -> Response:
    check_csrf(viewer, csrf)
    if not note.strip():
        return flash.redirect(request, f"/nonconformities/{number}", "Say what was done")
    command = nc.NcCommand(actor=_service(request, viewer).actor, kind="complete", complete=nc.CompleteAction(note=note))
    await _service(request, viewer).act(number, command)
    return flash.redirect(request, f"/nonconformities/{number}", "Completed")


@router.post("/nonconformities/{number}/effectiveness", response_model=None)
async def check_effectiveness(
    request: Request, viewer: ViewerDep, number: Number, csrf: Field = "", effective: Field = "", comment: Field = "",
    action_description: Field = "", action_owner: Field = "", action_due: Field = "",
) -> Response:  # fmt: skip
    check_csrf(viewer, csrf)
    try:
        next_action = None
        if effective != "yes":
            next_action = {"description": action_description, "owner": action_owner,
                           "due_at": dt.datetime.fromisoformat(action_due).replace(tzinfo=dt.UTC) if action_due else None}  # fmt: skip
        body = nc.CheckEffectiveness.model_validate(
            {"effective": effective == "yes", "comment": comment, "next_action": next_action}
        )
    except (ValidationError, ValueError):
        return flash.redirect(
            request, f"/nonconformities/{number}", "Give a comment, and the next action if it was not effective"
        )
    service = _service(request, viewer)
    await service.act(number, nc.NcCommand(actor=service.actor, kind="check", check=body))
    return flash.redirect(request, f"/nonconformities/{number}", "Checked")


_FORM_FIELDS = {("action", "description"): "action_description", ("action", "owner"): "action_owner",
                ("action", "due_at"): "action_due", ("action",): "action_description"}  # fmt: skip


def _errors(error: Exception) -> dict[str, str]:
    """Each error next to its form field."""
    if not isinstance(error, ValidationError):
        return {"action_due": "a date and time, e.g. 2027-01-31T17:00"}
    errors = {}
    for item in error.errors():
        location = tuple(str(part) for part in item["loc"])
        errors[_FORM_FIELDS.get(location, location[0] if location else "description")] = plain(item)
    return errors
