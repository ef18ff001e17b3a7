"""FastAPI dependencies, as `Annotated` aliases the routes declare by name."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aims.persistence import users
from aims.persistence.db import reading
from aims.persistence.models import User
from aims.application.errors import ServiceError
from aims.application.service import UseCaseService

bearer = HTTPBearer(auto_error=False, description="The API token printed by `aims users add`")


async def get_current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """The user behind the bearer token, with their roles (its own short unit of work, in the
    API's database threads)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ServiceError("unauthorized", "send Authorization: Bearer <token> (from `aims users add`)")
    token, database_url = credentials.credentials, request.app.state.settings.database_url

    def look_up() -> User | None:
        with reading(database_url) as session:
            return users.authenticate(session, token, dt.datetime.now(dt.UTC))

    user = await asyncio.to_thread(look_up)
    if user is None:
        raise ServiceError("unauthorized", "unknown, expired or revoked API token, or a deactivated user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def service_for(request: Request, user: User) -> UseCaseService:
    state = request.app.state
    return UseCaseService(
        database_url=state.settings.database_url, user=user, policy=state.policy, gateway=state.gateway
    )


# Dependencies without I/O are async: FastAPI would run a plain one in a thread of its own.
async def get_service(request: Request, user: CurrentUser) -> UseCaseService:
    return service_for(request, user)


ServiceDep = Annotated[UseCaseService, Depends(get_service)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]{1,200}$",
        description="Repeat a request safely: it takes effect once",
    ),
]  # fmt: skip
UseCaseId = Annotated[str, Path(max_length=36, pattern=r"^[A-Za-z0-9-]{1,36}$", description="The use case's id")]
GateId = Annotated[
    str, Path(max_length=80, pattern=r"^[A-Za-z0-9_-]{1,80}$", description="The gate's id, e.g. v1-review-risk")
]
