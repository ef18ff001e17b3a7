"""Activities of the lifecycle workflow: the only code that writes process outcomes."""

from __future__ import annotations

import datetime as dt

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from aims.domain.classification import classify, review_roles
from aims.domain.intake import Intake
from aims.domain.lifecycle import Routing
from aims.domain.messages import (
    CLASSIFY_ACTIVITY,
    DELIVER_ACTIVITY,
    RECORD_ACTIVITY,
    ClassifyRequest,
    ClassifyResult,
    DeliverRequest,
    RecordRequest,
)
from aims.persistence import repository
from aims.persistence.models import Notification
from aims.persistence.db import transaction
from aims.settings import current_policy
from notifications import Notifier, PermanentDeliveryError

class LifecycleActivities:
    def __init__(self, database_url: str, notifier: Notifier):
        self.database_url = database_url
        self.notifier = notifier

    @activity.defn(name=CLASSIFY_ACTIVITY)
    def classify_intake(self, request: ClassifyRequest) -> ClassifyResult:
        policy = current_policy()
        try:
            intake = Intake.model_validate(request.intake)
        except ValidationError as error:
            raise ApplicationError(f"intake: {error}", type="invalid", non_retryable=True) from error
        classification = classify(intake, policy)
        review, final = review_roles(classification, intake, policy)
        return ClassifyResult(
            classification=classification, routing=Routing(review_roles=review, final_role=final), timing=policy.timing()
        )

    @activity.defn(name=RECORD_ACTIVITY)
    def record_transition(self, request: RecordRequest) -> bool:
        with transaction(self.database_url) as session:
            return repository.record_transition(session, request.view, request.transition, _now())

    @activity.defn(name=DELIVER_ACTIVITY)
    def deliver_notices(self, request: DeliverRequest) -> int:
        """Hand each queued outbox row of a transition to the notifier, once; returns how many."""
        delivered = 0
        with transaction(self.database_url) as session:
            rows = repository.undelivered(session, request.use_case_id, request.notice_keys)
            row_ids = [row.id for row in rows]
        for row_id in row_ids:
            # One transaction per row: a failure later on keeps what was already sent.
            with transaction(self.database_url) as session:
                row = session.get(Notification, row_id, with_for_update=True)
                if row is None or row.delivered_at is not None:
                    continue
                user = repository.user_by_email(session, row.recipient)
                row.channel = self.notifier.channel
                try:
                    if user is not None:
                        self.notifier.deliver(session, row, user)
                except PermanentDeliveryError as error:
                    activity.logger.warning("notice %s to %s refused: %s", row.key, row.recipient, error.code)
                    row.error = error.code
                    continue
                row.delivered_at = _now()
                delivered += 1
        return delivered


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
