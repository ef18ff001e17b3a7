"""The admin's users page: add people, change their roles, rotate or revoke their token,
deactivate leavers. Every change goes through `aims.persistence.users`, so it lands on the
system audit chain with the admin who made it (`web:<email>`); a token is shown once, in the
answer to the request that made it, never in a URL."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from aims.application.form_errors import plain
from aims.application.gateway import new_idempotency_key, request_key
from aims.application.errors import ServiceError
from aims.domain.bounds import NAME_MAX
from aims.domain.durations import Duration
from aims.domain.intake import Email
from aims.domain.policy import ROLES
from aims.persistence import users
from aims.persistence.db import transaction
from aims.persistence.models import User
from api.web import flash, submissions
from api.web.auth import Viewer, ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()
UserId = Annotated[int, Path(ge=1, le=10**9)]
Text = Annotated[str, Form(max_length=NAME_MAX)]
Roles = Annotated[list[str], Form(max_length=len(ROLES))]
_EMAIL = TypeAdapter(Email)


def _admin(viewer: Viewer) -> str:
    if "admin" not in viewer.user.roles:
        raise ServiceError("forbidden", "the users page is for admins")
    return f"web:{viewer.user.email}"


def _page(request: Request, viewer: Viewer, status_code: int = 200, **context: object) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    with transaction(request.app.state.settings.database_url) as session:
        people = [
            {"id": u.id, "email": u.email, "name": u.name, "roles": u.roles, "active": u.active,
             "token": users.token_status(u, now)}  # fmt: skip
            for u in users.list_users(session)
        ]
    assignable = [role for role in ROLES if role != "requester"]
    return render(request, "admin_users.html", viewer, status_code=status_code, people=people, roles=assignable,
                  **context)  # fmt: skip


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _admin(viewer)
    return _page(request, viewer)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request, viewer: ViewerDep, csrf: Text = "", email: Text = "", name: Text = "", expires: Text = "",
    role: Roles = [],  # noqa: B006 - FastAPI copies form defaults
    submission: submissions.Submission = "",
) -> HTMLResponse:  # fmt: skip
    by = _admin(viewer)
    check_csrf(viewer, csrf)
    key = submissions.idempotency_key(submission) or new_idempotency_key()
    try:
        address = _EMAIL.validate_python(email.strip())
        duration = Duration.parse(expires) if expires.strip() else None
        if not name.strip():
            raise ValueError("name: required")
        # The address is in the key: Back, another address and the same send again add that person.
        sent = request_key(by, f"{key}\n{address}")
        with transaction(request.app.state.settings.database_url) as session:
            added = users.add_user_once(session, email=address, name=name, roles=_roles(role),
                                        now=dt.datetime.now(dt.UTC), by=by, expires=duration, request_key=sent)  # fmt: skip
            shown = added.user.email
    except (ValidationError, ValueError) as error:
        return _page(request, viewer, 422, error=_reason(error), form={"email": email, "name": name, "expires": expires})
    message = f"Added {shown}."
    if added.repeat:
        message += " This form was sent more than once: the token below replaces the one the first send made."
    return _page(request, viewer, new_token={"email": shown, "token": added.token}, message=message)


@router.post("/admin/users/{user_id}/{change}", response_model=None)
def change_user(
    request: Request, viewer: ViewerDep, user_id: UserId, change: Annotated[str, Path(pattern="^(roles|rotate|revoke|deactivate)$")],
    csrf: Text = "", expires: Text = "", role: Roles = [],  # noqa: B006 - FastAPI copies form defaults
) -> Response:  # fmt: skip
    by = _admin(viewer)
    check_csrf(viewer, csrf)
    now = dt.datetime.now(dt.UTC)
    try:
        with transaction(request.app.state.settings.database_url) as session:
            user = session.get(User, user_id)
            if user is None:
                raise ServiceError("not_found", f"no user {user_id}")
            email = user.email
            if change == "roles":
                users.set_roles(session, user, _roles(role), by=by, now=now)
            elif change == "rotate":
                duration = Duration.parse(expires) if expires.strip() else None
                token = users.rotate_token(session, user, by=by, now=now, expires=duration)
                return _page(request, viewer, new_token={"email": email, "token": token},
                             message=f"New token for {email}; the old one and its web sessions have ended.")  # fmt: skip
            elif change == "revoke":
                users.revoke_token(session, user, by=by, now=now)
            else:
                users.deactivate(session, user, by=by, now=now)
    except (ValidationError, ValueError) as error:
        return _page(request, viewer, 422, error=_reason(error))
    done = {"roles": "roles changed", "revoke": "token revoked", "deactivate": "deactivated"}[change]
    return flash.redirect(request, "/admin/users", f"{email}: {done}")


def _roles(chosen: list[str]) -> list[str]:
    unknown = sorted(set(chosen) - set(ROLES))
    if unknown:
        raise ValueError(f"role: not a role: {', '.join(unknown)}")
    return chosen


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "email: " + plain(error.errors()[0])
    return str(error)
