"""Signing in with an API token, and out: the session is a row, ended on sign-out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from aims.persistence import users
from aims.persistence.db import transaction
from api.web import session as web_session
from api.web.auth import ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()


def _form(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    """The sign-in form, with a fresh double-submit token in a field and a cookie."""
    token = web_session.new_sign_in_token()
    response = render(request, "sign_in.html", None, status_code=status_code, error=error, csrf=token,
                      first_run=_nobody_yet(request))  # fmt: skip
    web_session.set_sign_in_cookie(response, token, request.app.state.settings.public_url)
    return response


def _nobody_yet(request: Request) -> bool:
    """A new installation, whose page says how to make the first person. The form itself needs
    no database: with the database down, it is shown without the hint."""
    try:
        with transaction(request.app.state.settings.database_url) as session:
            return users.nobody_yet(session)
    except DBAPIError:
        return False


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    return _form(request)


@router.post("/sign-in")
def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    settings = request.app.state.settings
    if not web_session.same_token(csrf, request.cookies.get(web_session.SIGN_IN_COOKIE)):
        return _form(request, 403, "The form expired or did not come from this site; please try again.")
    now = dt.datetime.now(dt.UTC)
    with transaction(settings.database_url) as session:
        user = users.authenticate(session, token.strip(), now) if token.strip() else None
        cookie = users.start_session(session, user, now) if user is not None else None
    if cookie is None:
        return _form(request, 401, "That token is not valid.")
    response = RedirectResponse("/", status_code=303)
    web_session.set_session_cookie(response, cookie, settings.public_url)
    response.delete_cookie(web_session.SIGN_IN_COOKIE)
    return response


@router.post("/sign-out")
def sign_out(request: Request, viewer: ViewerDep, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(viewer, csrf)
    cookie = request.cookies.get(web_session.COOKIE)
    if cookie:
        with transaction(request.app.state.settings.database_url) as session:
            users.end_session(session, cookie, dt.datetime.now(dt.UTC))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(web_session.COOKIE)
    return response
