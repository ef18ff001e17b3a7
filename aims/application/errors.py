"""One error type for the service layer; the HTTP layer turns it into a status and a message."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Literal, TypeVar

ErrorCode = Literal["unauthorized", "forbidden", "not_found", "conflict", "invalid", "unavailable"]

STATUS: dict[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "invalid": 422,
    "unavailable": 503,
}
# What a person can act on (a field to correct, a page gone stale, a step that is not theirs):
# a web page shows it on the page they came from; anything else goes to the error page.
REFUSALS = frozenset({"invalid", "conflict", "forbidden"})


class ServiceError(Exception):
    def __init__(self, code: ErrorCode, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        # A command that may or may not have been applied: the Idempotency-Key that repeats it once.
        self.retry_key: str | None = None

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, object]:
        message = self.message
        if self.retry_key:
            message += f"; to repeat it safely, send it again with the header Idempotency-Key: {self.retry_key}"
        detail: dict[str, object] = {"error": self.code, "message": message}
        if self.field:
            detail["field"] = self.field
        if self.retry_key:
            detail["idempotency_key"] = self.retry_key
        return {"detail": detail}


T = TypeVar("T")


async def repeatable(sending: Awaitable[T], idempotency_key: str) -> T:
    """A command Temporal did not settle (unreachable, or no answer in time) names the key that
    repeats it safely, so a caller who sent none can still retry without doing it twice."""
    try:
        return await sending
    except ServiceError as error:
        if error.code == "unavailable":
            error.retry_key = idempotency_key
        raise
