from notifications.base import Notifier
from notifications.outbox import OutboxNotifier

__all__ = ["Notifier", "OutboxNotifier"]
