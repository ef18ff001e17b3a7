"""The daily digest: what is stalled, once a day, to every channel that has a governance channel."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity

from activities.channels import Channel, StalledItem
from aims.domain.messages import DIGEST_ACTIVITY
from aims.domain.state import Escalation
from aims.persistence import queries
from aims.persistence.db import transaction


class DigestActivities:
    def __init__(self, database_url: str, channels: Sequence[Channel], public_url: str):
        self.database_url = database_url
        self.channels = channels
        self.public_url = public_url

    @activity.defn(name=DIGEST_ACTIVITY)
    def post_digest(self, day: str) -> int:
        """Returns how many items the digest listed (each channel posts it at most once a day)."""
        with transaction(self.database_url) as session:
            items = [
                StalledItem(
                    use_case_id=item["use_case_id"] or "", name=item["name"], label=item["label"], since=item["since"],
                    due_at=item["due_at"], executive_told=item["escalation_level"] >= Escalation.EXECUTIVE,
                    link=f"{self.public_url}{item['link']}",
                )  # fmt: skip
                for item in queries.stalled(session)
            ]
        for channel in self.channels:
            channel.digest(day, items)
        return len(items)
