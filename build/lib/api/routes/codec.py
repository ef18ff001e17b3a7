"""The Temporal Web UI's remote codec: `/codec/decode` opens sealed payloads for the AIMS owner
and admins, so they can read a history in the UI; nobody else, and nothing is ever sealed
here (there is no /encode: a payload that aims accepts can only come from an aims process).

The protocol is Temporal's: POST a `Payloads` message as proto3 JSON, get it back decoded.
The UI calls from its own origin (`AIMS_TEMPORAL_UI_URL`), with the session cookie when its
"include cross-origin credentials" setting is on, or with a bearer token.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from aims.application.errors import ServiceError
from aims.payloads import SealingCodec
from aims.persistence import users
from aims.persistence.db import transaction
from aims.persistence.models import User
from api.deps import bearer
from api.web.session import COOKIE

router = APIRouter(prefix="/codec", tags=["temporal ui"])
log = logging.getLogger(__name__)
READERS = frozenset({"aims_owner", "admin"})
_CORS_HEADERS = "Content-Type, X-Namespace, Authorization"


def codec_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    now = dt.datetime.now(dt.UTC)
    cookie = request.cookies.get(COOKIE)
    with transaction(request.app.state.settings.database_url) as session:
        if credentials is not None and credentials.scheme.lower() == "bearer":
            user = users.authenticate(session, credentials.credentials, now)
        elif cookie:
            found = users.session_of(session, cookie, now)
            user = found[0] if found else None
        else:
            user = None
    if user is None:
        raise ServiceError("unauthorized", "sign in to aims (session cookie) or send Authorization: Bearer <token>")
    if not READERS & set(user.roles):
        raise ServiceError("forbidden", "only the AIMS owner and admins may read decoded Temporal payloads")
    return user


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = request.app.state.settings.temporal_ui_url
    if not origin or origin != allowed:
        return {"Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _CORS_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


@router.options("/decode", include_in_schema=False)
def preflight(request: Request) -> Response:
    return Response(status_code=204, headers=_cors(request))


@router.post(
    "/decode",
    summary="Open sealed Temporal payloads (Temporal Web UI codec; AIMS owner and admins)",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def decode(request: Request, reader: Annotated[User, Depends(codec_reader)]) -> Response:
    payloads = Payloads()
    try:
        json_format.Parse(await request.body(), payloads)
    except (json_format.ParseError, ValueError):  # ValueError: bytes that are not UTF-8
        raise ServiceError(
            "invalid", "a Temporal Payloads message as proto3 JSON is expected", field="payloads"
        ) from None
    keys = request.app.state.settings.payload_keys
    if not keys:
        raise ServiceError("unavailable", "this process has no payload keys (AIMS_PAYLOAD_KEYS)")
    opened = Payloads(payloads=SealingCodec(keys).try_open(payloads.payloads))
    log.info("codec: %s opened %d payload(s) for namespace %s", reader.email, len(opened.payloads),
             request.headers.get("x-namespace", "?"))  # fmt: skip
    return Response(json_format.MessageToJson(opened), media_type="application/json", headers=_cors(request))
