"""The notification boundary: the lifecycle's activities hand notices to one `Notifier`."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from aims.persistence.models import Notification, User


class Notifier(Protocol):
    channel: str

    def deliver(self, session: Session, notification: Notification, to: User) -> None:
        """Send one queued outbox row to its recipient. The caller marks it delivered in the same
        transaction; a notifier that talks to the outside must itself tolerate being called
        again for a row it already sent (an activity retried after the send, before the commit)."""


class PermanentDeliveryError(Exception):
    """The channel refused this message for good (bad channel, unknown user, missing scope):
    recorded on the outbox row and not retried. Anything else raised is retried."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
