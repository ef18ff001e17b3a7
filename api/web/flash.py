"""The message a page shows after a form (`?msg=…`), signed with the secret key: a link from
elsewhere cannot make aims say something it did not ("your token has expired, mail it to …")."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse

from api.web.session import signature


def redirect(request: Request, path: str, message: str) -> RedirectResponse:
    """See `path` (303) with `message` shown on it."""
    query = urlencode({"msg": message, "sig": _signature(request, message)})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def recorded(what: str, detail: dict[str, Any], version: int | None = None) -> str:
    """'Recorded: you approved the risk review gate of Invoice OCR (version 1). Status: in review.'"""
    status = detail["status"].replace("_", " ")
    return f"Recorded: {what} of {detail['name']} (version {version or detail['version']}). Status: {status}."


def message_of(request: Request) -> str | None:
    """The message this request carries, if aims signed it."""
    message = request.query_params.get("msg")
    if not message or not hmac.compare_digest(request.query_params.get("sig", ""), _signature(request, message)):
        return None
    return message


def _signature(request: Request, message: str) -> str:
    return signature(request.app.state.settings.secret_key, "flash", message)[:32]
