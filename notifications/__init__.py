from notifications.base import Notifier, PermanentDeliveryError
from notifications.outbox import OutboxNotifier

__all__ = ["Notifier", "OutboxNotifier", "PermanentDeliveryError"]
