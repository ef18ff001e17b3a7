"""A form is recorded once however often it is sent. Each rendered form carries a submission id
that becomes its command's idempotency key, so a double click or a browser sending the form
again gets the first answer and nothing is done twice (a second incident, a refused decision)."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from fastapi import Form

from aims.application.errors import ServiceError

FIELD = "submission"
_PREFIX = "form:"
_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
# The hidden field as a page declares it (its shape is checked by `idempotency_key`).
Submission = Annotated[str, Form(max_length=64)]


def new_submission() -> str:
    return secrets.token_urlsafe(16)


def idempotency_key(value: str) -> str | None:
    """The idempotency key of a form sent with this submission id (None from a page without one)."""
    if not value:
        return None
    if not _SHAPE.fullmatch(value):
        raise ServiceError("invalid", "submission: not a form this site made; reload the page", field=FIELD)
    return _PREFIX + value


def sent_from_a_form(idempotency_key: str | None) -> bool:
    """Sending the same form again repeats this key (Back, then the same button)."""
    return bool(idempotency_key and idempotency_key.startswith(_PREFIX))
