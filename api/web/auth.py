"""Who is looking at a page: a signed session cookie (or a trusted proxy's header), and the
CSRF token every form carries."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import Depends, Request

from aims.persistence import users
from aims.persistence.models import User
from aims.persistence.db import transaction
from api.deps import service_for
from api.proxy import VIA_TRUSTED_PROXY
from aims.application.errors import ServiceError
from aims.application.service import UseCaseService
from api.web import session as web_session


log = logging.getLogger(__name__)


class SignInRequired(Exception):
    pass


class Viewer:
    def __init__(self, user: User, csrf: str):
        self.user = user
        self.csrf = csrf


def get_viewer(request: Request) -> Viewer:
    settings = request.app.state.settings
    header = settings.trusted_email_header
    email = request.headers.get(header) if header else None
    if email and getattr(request.state, VIA_TRUSTED_PROXY, False):
        user = _user(settings.database_url, email)
        if user is not None:
            return Viewer(user, web_session.csrf_for_header_user(settings.secret_key, user.email))
    elif email:
        peer = request.client.host if request.client else "unknown"
        log.warning("ignored %s from %s: not a trusted proxy (AIMS_TRUSTED_PROXIES)", header, peer)
    cookie = request.cookies.get(web_session.COOKIE)
    if not cookie:
        raise SignInRequired
    with transaction(settings.database_url) as session:
        found = users.session_of(session, cookie, dt.datetime.now(dt.UTC))
    if found is None:
        raise SignInRequired
    return Viewer(*found)


def _user(database_url: str, email: str) -> User | None:
    with transaction(database_url) as session:
        return users.active_user_by_email(session, email)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def page_service(request: Request, viewer: ViewerDep) -> UseCaseService:
    return service_for(request, viewer.user)


PageService = Annotated[UseCaseService, Depends(page_service)]


def check_csrf(viewer: Viewer, token: str) -> None:
    if not web_session.same_token(token, viewer.csrf):
        raise ServiceError("forbidden", "the form expired or did not come from this site (CSRF); reload and retry")
