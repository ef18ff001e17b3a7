"""The embedded default: notices are kept in the outbox table, readable via GET /api/notifications."""

from __future__ import annotations

from sqlalchemy.orm import Session

from aims.persistence.models import Notification, User


class OutboxNotifier:
    channel = "outbox"

    def deliver(self, session: Session, notification: Notification, to: User) -> None:
        """Nothing to send: the outbox row is the delivery."""
