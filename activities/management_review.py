"""Put the quarter's management review on the list (idempotent per quarter)."""

from __future__ import annotations

import datetime as dt

from activities.definition import defn
from aims.domain import management_review as review
from aims.domain.messages import MANAGEMENT_REVIEW_ACTIVITY
from aims.persistence import reports
from aims.persistence.db import transaction


class ManagementReviewActivities:
    def __init__(self, database_url: str, channels: list[str]):
        self.database_url = database_url
        # The channels configured (their names): the review's notice is queued for them.
        self.channels = channels

    @defn(name=MANAGEMENT_REVIEW_ACTIVITY)
    def schedule_management_review(self, day: str) -> int:
        start, end = review.previous_quarter(dt.date.fromisoformat(day))
        with transaction(self.database_url) as session:
            return reports.review_due(session, start=start, end=end, now=dt.datetime.now(dt.UTC), channels=self.channels).number
