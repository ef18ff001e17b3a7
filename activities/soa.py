"""The SoA workflow's register writes (local activities, each idempotent)."""

from __future__ import annotations

from activities.definition import defn
from aims.domain import soa
from aims.domain.messages import (
    RECORD_SOA_DECISION_ACTIVITY,
    RECORD_SOA_ESCALATION_ACTIVITY,
    RECORD_SOA_PROPOSAL_ACTIVITY,
)
from aims.domain.policy import Policy
from aims.persistence import soa as records
from aims.persistence.db import transaction


class SoaActivities:
    def __init__(self, database_url: str, policy: Policy, channels: list[str]):
        self.database_url = database_url
        self.policy = policy
        # The channels configured (their names): notices are queued for them.
        self.channels = channels

    @defn(name=RECORD_SOA_PROPOSAL_ACTIVITY)
    def record_proposal(self, request: soa.RecordProposal) -> soa.PendingSoa:
        with transaction(self.database_url) as session:
            draft = records.proposal(session, request.command.draft)
            assert draft is not None and draft.proposed_by == request.command.actor.email, "not this proposer's draft"
            since = draft.proposed_at or request.at  # a retry keeps the first time
            pending = soa.pending_for(draft.number, draft.proposed_by, since, self.policy)
            records.propose(session, pending, self.channels)
            return pending

    @defn(name=RECORD_SOA_DECISION_ACTIVITY)
    def record_decision(self, request: soa.RecordDecision) -> soa.SoaAck:
        command = request.command
        with transaction(self.database_url) as session:
            version = records.decide(
                session, command.number, command.decision, command.actor.email, command.comment, request.at,
                self.channels,
            )
        return soa.SoaAck(number=command.number, status=soa.outcome(command.decision), version=version)

    @defn(name=RECORD_SOA_ESCALATION_ACTIVITY)
    def record_escalation(self, request: soa.RecordEscalation) -> None:
        with transaction(self.database_url) as session:
            records.escalate(session, request.number, request.level, request.at, self.channels)
