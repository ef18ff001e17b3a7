"""The register's activities: classify an intake under the current policy, record a transition.
Both run as local activities of the use case workflow (fast, in the worker that runs it)."""

from __future__ import annotations

import datetime as dt

from activities.definition import defn
from activities.foreground import Foreground
from aims.domain.messages import CLASSIFY_ACTIVITY, RECORD_ACTIVITY, ClassifyRequest, ClassifyResult, RecordRequest, RecordResult
from aims.domain.policy import Policy
from aims.persistence.db import write_transaction
from aims.persistence.register import record_transition


class RegisterActivities:
    def __init__(self, database_url: str, policy: Policy, *, channels: list[str], foreground: Foreground):
        self.database_url = database_url
        self.policy = policy
        # The channels configured (their names); with none, the inbox row is the delivery.
        self.channels = channels
        # A register write holds an Update someone waits on: the channels' work holds back meanwhile.
        self.foreground = foreground

    @defn(name=CLASSIFY_ACTIVITY)
    def classify_intake(self, request: ClassifyRequest) -> ClassifyResult:
        return ClassifyResult.of(request.intake, self.policy)

    @defn(name=RECORD_ACTIVITY)
    def record_transition(self, request: RecordRequest) -> RecordResult:
        with self.foreground.running(), write_transaction(self.database_url) as session:
            recorded = record_transition(
                session, request.state, request.transition, dt.datetime.now(dt.UTC), channels=self.channels
            )
        return RecordResult(written=recorded.written, deliveries=recorded.deliveries)
