"""FastAPI dependencies, as `Annotated` aliases the routes declare by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from aims.persistence import models, repository
from aims.persistence.db import request_session
from api.errors import ServiceError
from api.lifecycle_client import LifecycleClient
from api.services import UseCaseService

_bearer = HTTPBearer(auto_error=False, description="The API token printed by `aims users add`")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed at the end of it."""
    with request_session(request.app.state.settings.database_url) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> models.User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ServiceError("unauthorized", "send Authorization: Bearer <token> (from `aims users add`)")
    user = repository.user_by_token(session, credentials.credentials)
    if user is None:
        raise ServiceError("unauthorized", "unknown or revoked API token")
    return user


CurrentUser = Annotated[models.User, Depends(get_current_user)]


async def get_lifecycle(request: Request) -> LifecycleClient:
    return await request.app.state.lifecycle()


LifecycleDep = Annotated[LifecycleClient, Depends(get_lifecycle)]


def get_service(session: SessionDep, user: CurrentUser, lifecycle: LifecycleDep, request: Request) -> UseCaseService:
    return UseCaseService(session=session, lifecycle=lifecycle, user=user, policy=request.app.state.policy)


ServiceDep = Annotated[UseCaseService, Depends(get_service)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="Repeat a request safely: it takes effect once"),
]
