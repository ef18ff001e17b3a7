"""A nonconformity workflow's register writes (local activities, each idempotent)."""

from __future__ import annotations

from activities.definition import defn
from aims.domain import nonconformity as nc
from aims.domain.messages import RECORD_NC_CHANGE_ACTIVITY, RECORD_NC_ESCALATION_ACTIVITY, RECORD_NC_OPEN_ACTIVITY
from aims.domain.policy import Policy
from aims.persistence import nonconformities as records
from aims.persistence.db import transaction


class NonconformityActivities:
    def __init__(self, database_url: str, policy: Policy, channels: list[str]):
        self.database_url = database_url
        self.policy = policy
        # The channels configured (their names): notices are queued for them.
        self.channels = channels

    @defn(name=RECORD_NC_OPEN_ACTIVITY)
    def record_open(self, request: nc.OpenNc) -> nc.NcState:
        with transaction(self.database_url) as session:
            row = records.get(session, request.number)
            assert row is not None, f"no nonconformity {request.number}"
            state = nc.opened(row.number, row.raised_by, records.action_of(row), row.raised_at, self.policy)
            records.open_(session, state, self.channels)
            return state

    @defn(name=RECORD_NC_CHANGE_ACTIVITY)
    def record_change(self, request: nc.RecordNcChange) -> None:
        with transaction(self.database_url) as session:
            records.change(session, request.command, request.after, request.at, self.channels)

    @defn(name=RECORD_NC_ESCALATION_ACTIVITY)
    def record_escalation(self, request: nc.RecordNcEscalation) -> None:
        with transaction(self.database_url) as session:
            records.escalate(session, request.number, request.level, request.at, self.channels)
