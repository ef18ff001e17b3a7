"""The daily digests: what is stalled, to every channel's governance destination; and to each
person who chose a daily digest, everything held for them, in one message per channel."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from temporalio import activity

from activities.channels import Channel, Delivery, PermanentDeliveryError, StalledItem
from activities.definition import defn
from activities.delivery import Deliveries
from aims.domain.messages import DIGEST_ACTIVITY
from aims.domain.state import Escalation
from aims.persistence import outbox, queries
from aims.persistence.db import transaction
from aims.persistence.models import Delivery as DeliveryRow


class DigestActivities:
    def __init__(self, database_url: str, channels: Sequence[Channel], public_url: str):
        self.database_url = database_url
        self.channels = {channel.name: channel for channel in channels}
        self.public_url = public_url

    @defn(name=DIGEST_ACTIVITY)
    def post_digest(self, day: str) -> int:
        """Returns how many stalled items the governance digest listed (each channel posts it at
        most once a day; each person's digest is sent once)."""
        with transaction(self.database_url) as session:
            items = [
                StalledItem(
                    use_case_id=item["use_case_id"] or "", name=item["name"], kind=item["kind"], label=item["label"],
                    since=item["since"], due_at=item["due_at"], executive_told=item["escalation_level"] >= Escalation.EXECUTIVE,
                    link=f"{self.public_url}{item['link']}",
                )  # fmt: skip
                for item in queries.stalled(session)
            ]
        for channel in self.channels.values():
            channel.digest(day, items)
        self._personal_digests(day)
        return len(items)

    def _personal_digests(self, day: str) -> None:
        with transaction(self.database_url) as session:
            context = Deliveries(session, self.public_url)
            held: dict[tuple[str, str], list[tuple[int, Delivery]]] = defaultdict(list)
            for row in outbox.held_for_digests(session):
                delivery = context.delivery(row)
                if delivery is not None and delivery.recipient is not None:
                    held[(row.channel, delivery.recipient.email)].append((row.id, delivery))
        for (channel_name, _), rows in held.items():
            channel = self.channels.get(channel_name)
            if channel is not None:
                self._send(channel, day, rows)

    def _send(self, channel: Channel, day: str, rows: list[tuple[int, Delivery]]) -> None:
        deliveries = [delivery for _, delivery in rows]
        recipient = deliveries[0].recipient
        assert recipient is not None
        error = None
        try:
            reference = channel.personal_digest(day, recipient, deliveries)
        except PermanentDeliveryError as refused:
            activity.logger.warning("%s refused the digest to %s: %s", channel.name, recipient.email, refused.code)
            reference, error = None, refused.code
        now = dt.datetime.now(dt.UTC)
        with transaction(self.database_url) as session:
            for row_id, _ in rows:
                row = session.get(DeliveryRow, row_id, with_for_update=True)
                if row is not None and row.delivered_at is None:
                    # A digest is not a prompt: there is nothing to rewrite when its gate closes.
                    row.reference, row.error = reference, error
                    row.delivered_at, row.finalized_at = (None, None) if error else (now, now)
