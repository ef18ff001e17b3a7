"""Nonconformities and corrective actions: the list (with the form that raises one), and each
one with the forms its action owner and the AIMS owner use."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from aims.application.errors import REFUSALS, ServiceError
from aims.application.form_errors import plain
from aims.application.nonconformities import NonconformityService
from aims.domain import nonconformity as nc
from aims.domain.bounds import TEXT_MAX
from api.web import flash, submissions
from api.web.auth import Viewer, ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()
Number = Annotated[int, Path(ge=1, le=10**9)]
Field = Annotated[str, Form(max_length=TEXT_MAX)]


def _service(request: Request, viewer: ViewerDep) -> NonconformityService:
    return NonconformityService(request.app.state.settings.database_url, viewer.user, request.app.state.gateway)


@router.get("/nonconformities", response_class=HTMLResponse)
def listed(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _list_page(request, viewer)


def _list_page(
    request: Request, viewer: Viewer, form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    """The list, with the form that raises one (again with what was typed, when it was refused)."""
    items = _service(request, viewer).listed(None)
    may_raise = bool(nc.RAISING_ROLES & set(viewer.user.roles))
    fields, error = _split(errors)
    return render(request, "nonconformities.html", viewer, status_code, items=items, may_raise=may_raise,
                  form=form or {}, errors=fields, error=error)  # fmt: skip


@router.post("/nonconformities", response_model=None)
async def raise_nonconformity(
    request: Request, viewer: ViewerDep, csrf: Field = "", source: Field = "", description: Field = "",
    use_case_id: Field = "", action_description: Field = "", action_owner: Field = "", action_due: Field = "",
    submission: submissions.Submission = "",
) -> Response:  # fmt: skip
    check_csrf(viewer, csrf)
    form = {"source": source, "description": description, "use_case_id": use_case_id,
            "action_description": action_description, "action_owner": action_owner, "action_due": action_due}  # fmt: skip
    try:
        body = nc.RaiseNonconformity.model_validate({
            "source": source, "description": description, "use_case_id": use_case_id or None,
            "action": _action(action_description, action_owner, action_due),
        })  # fmt: skip
    except ValueError as error:
        return await run_in_threadpool(_list_page, request, viewer, form, _errors(error), 422)
    try:
        created = await _service(request, viewer).raise_(body, submissions.idempotency_key(submission))
    except ServiceError as error:
        if error.code not in REFUSALS:
            raise
        return await run_in_threadpool(_list_page, request, viewer, form, _refusal(error), error.status)
    said = f"Raised: nonconformity {created['number']}. {created['action_owner']} is asked to do its action by {_when(created['due_at'])}."
    return flash.redirect(request, f"/nonconformities/{created['number']}", said)


@router.get("/nonconformities/{number}", response_class=HTMLResponse)
def one(request: Request, viewer: ViewerDep, number: Number) -> HTMLResponse:
    return _item_page(request, viewer, number)


def _item_page(
    request: Request, viewer: Viewer, number: int, again: str = "", form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    """One nonconformity, with the form the viewer may use now (`again`: the one refused, as typed)."""
    item = _service(request, viewer).one(number)
    email, roles = viewer.user.email, set(viewer.user.roles)
    may_complete = item["status"] == "action_open" and item["action_owner"] == email
    may_check = item["status"] == "effectiveness_check" and nc.CHECKER_ROLE in roles and item["action_owner"] != email
    fields, error = _split(errors)
    return render(request, "nonconformity.html", viewer, status_code, item=item, may_complete=may_complete,
                  may_check=may_check, again=again, form=form or {}, errors=fields, error=error)  # fmt: skip


@router.post("/nonconformities/{number}/completion", response_model=None)
async def complete(request: Request, viewer: ViewerDep, number: Number, csrf: Field = "", note: Field = "") -> Response:
    check_csrf(viewer, csrf)
    form = {"note": note}
    try:
        body = nc.CompleteAction(note=note)
    except ValidationError as error:
        return await run_in_threadpool(_item_page, request, viewer, number, "completion", form, _errors(error), 422)
    said = f"Recorded: the corrective action of nonconformity {number} is done. An AIMS owner checks now whether it worked."
    return await _act(request, viewer, number, "completion", form, {"kind": "complete", "complete": body}, said)


@router.post("/nonconformities/{number}/effectiveness", response_model=None)
async def check_effectiveness(
    request: Request, viewer: ViewerDep, number: Number, csrf: Field = "", effective: Field = "", comment: Field = "",
    action_description: Field = "", action_owner: Field = "", action_due: Field = "",
) -> Response:  # fmt: skip
    check_csrf(viewer, csrf)
    form = {"effective": "yes" if effective == "yes" else "no", "comment": comment,
            "action_description": action_description, "action_owner": action_owner, "action_due": action_due}  # fmt: skip
    try:
        next_action = None if effective == "yes" else _action(action_description, action_owner, action_due)
        body = nc.CheckEffectiveness.model_validate({"effective": effective == "yes", "comment": comment,
                                                     "next_action": next_action})  # fmt: skip
    except ValueError as error:
        return await run_in_threadpool(_item_page, request, viewer, number, "effectiveness", form, _errors(error), 422)
    said = (f"Recorded: the action was effective; nonconformity {number} is closed." if body.effective else
            f"Recorded: the action was not effective; nonconformity {number} is open again with the next action.")  # fmt: skip
    return await _act(request, viewer, number, "effectiveness", form, {"kind": "check", "check": body}, said)


async def _act(
    request: Request, viewer: Viewer, number: int, which: str, form: dict[str, str], command: dict[str, object],
    said: str,
) -> Response:  # fmt: skip
    """Send the command; `said` on the page after it, or the form `which` again with the refusal."""
    service = _service(request, viewer)
    try:
        await service.act(number, nc.NcCommand(actor=service.actor, **command))
    except ServiceError as error:
        if error.code not in REFUSALS:
            raise
        return await run_in_threadpool(_item_page, request, viewer, number, which, form, _refusal(error), error.status)
    return flash.redirect(request, f"/nonconformities/{number}", said)


def _action(description: str, owner: str, due: str) -> dict[str, object]:
    """A corrective action from its three form fields (the due date is typed in UTC)."""
    return {"description": description, "owner": owner,
            "due_at": dt.datetime.fromisoformat(due).replace(tzinfo=dt.UTC) if due else None}  # fmt: skip


def _when(at: str) -> str:
    return f"{at[:16].replace('T', ' ')} UTC"


# Where the body's fields sit on the forms: a raised action and a next action share three fields.
_FORM_FIELDS = {(action, part): name for action in ("action", "next_action")
                for part, name in (("description", "action_description"), ("owner", "action_owner"),
                                   ("due_at", "action_due"), ("", "action_description"))}  # fmt: skip


def _errors(error: ValueError) -> dict[str, str]:
    """Each error next to its form field."""
    if not isinstance(error, ValidationError):
        return {"action_due": "a date and time, e.g. 2027-01-31T17:00"}
    errors: dict[str, str] = {}
    for item in error.errors():
        location = tuple(str(part) for part in item["loc"])
        name = _FORM_FIELDS.get((location + ("",))[:2], location[0] if location else "form")
        errors.setdefault(name, plain(item))
    return errors


def _split(errors: dict[str, str] | None) -> tuple[dict[str, str], str | None]:
    """Errors beside their fields, and one about the whole form: at the top of the page, which
    shows it even when the form is gone (someone else acted first)."""
    fields = dict(errors or {})
    whole = fields.pop("form", None)
    return fields, f"Not recorded: {whole}." if whole else None


def _refusal(error: ServiceError) -> dict[str, str]:
    """A refusal beside the field it names (its `field`, or 'action.due_at: …'), else above the form."""
    path, said, words = error.message.partition(": ")
    if error.field:
        return {error.field: error.message}
    name = _FORM_FIELDS.get(tuple(path.split(".")))
    return {name: words} if said and name else {"form": error.message}
