"""The Statement of Applicability (ISO/IEC 42001 clause 6.1.3): for each of the 38 Annex A
controls, applicable or excluded and why, how far it is implemented, who owns it, and where the
evidence is. A governed document: the AIMS owner proposes a version, an executive other than
the proposer approves or rejects it, under the same 50/100/200 % ladder as a gate; every
approved version is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from aims.domain.actions import ControlId
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.bounds import ShortText, Text, Url, bounded_list
from aims.domain.deadlines import Ladder
from aims.domain.durations import Duration
from aims.domain.intake import Email
from aims.domain.policy import Policy
from aims.domain.state import Actor, Model, Refused

Implementation = Literal["planned", "partial", "implemented"]
# Kept small: a whole SoA travels nowhere near Temporal (only its draft id does), but it is
# read in one page and one PDF.
JUSTIFICATION_MAX = 1000
EVIDENCE_MAX = 5


class SoaEntry(Model):
    control: ControlId
    applicable: bool
    justification: Text = Field(min_length=1, max_length=JUSTIFICATION_MAX, description="required either way")
    implementation: Implementation | None = Field(None, description="required when applicable")
    owner: Email | None = Field(None, description="required when applicable")
    evidence: list[Url] = bounded_list(default_factory=list, max_items=EVIDENCE_MAX)

    @model_validator(mode="after")
    def _applicable_needs_status_and_owner(self) -> SoaEntry:
        if self.applicable and (self.implementation is None or self.owner is None):
            raise ValueError(f"{self.control} is applicable: give its implementation status and owner")
        if not self.applicable and self.implementation is not None:
            raise ValueError(f"{self.control} is excluded: it has no implementation status")
        return self


class SoaProposal(Model):
    """A whole SoA: every Annex A control exactly once."""

    entries: list[SoaEntry] = Field(min_length=len(ANNEX_A_CONTROLS), max_length=len(ANNEX_A_CONTROLS))
    note: ShortText = Field("", description="what changed and why")

    @model_validator(mode="after")
    def _every_control_once(self) -> SoaProposal:
        named = [entry.control for entry in self.entries]
        missing = [control for control in ANNEX_A_CONTROLS if control not in named]
        if missing or len(set(named)) != len(named):
            raise ValueError(f"every Annex A control exactly once; missing: {', '.join(missing) or 'none'}")
        return self


class SoaDecision(Model):
    decision: Literal["approve", "reject"]
    comment: Text = ""

    @model_validator(mode="after")
    def _reject_needs_a_reason(self) -> SoaDecision:
        if self.decision == "reject" and not self.comment:
            raise ValueError("say why the proposal is rejected (comment)")
        return self


class ProposeSoa(Model):
    actor: Actor
    draft: int


class DecideSoa(Model):
    actor: Actor
    number: int
    decision: Literal["approve", "reject"]
    comment: Text = ""


class SoaAck(Model):
    number: int
    status: Literal["proposed", "approved", "rejected"]
    version: int | None = None


class RecordProposal(Model):
    command: ProposeSoa
    at: dt.datetime


class RecordDecision(Model):
    command: DecideSoa
    at: dt.datetime


class RecordEscalation(Model):
    number: int
    level: int
    at: dt.datetime


class PendingSoa(Ladder):
    """A proposal waiting for an executive, on the ladder (reminder, stalled, executives)."""

    number: int
    proposed_by: str
    since: dt.datetime
    due_at: dt.datetime


PROPOSER_ROLE, DECIDER_ROLE = "aims_owner", "executive"


def may_propose(actor: Actor, pending: PendingSoa | None) -> None:
    if PROPOSER_ROLE not in actor.roles:
        raise Refused("forbidden", "the AIMS owner proposes changes to the Statement of Applicability")
    if pending is not None:
        raise Refused("conflict", f"proposal {pending.number} is waiting for a decision; decide it first")


def may_decide(actor: Actor, pending: PendingSoa | None, number: int) -> PendingSoa:
    if pending is None or pending.number != number:
        raise Refused("conflict", f"proposal {number} is not waiting for a decision")
    if DECIDER_ROLE not in actor.roles:
        raise Refused("forbidden", "an executive approves the Statement of Applicability")
    if actor.email == pending.proposed_by:
        raise Refused("forbidden", "you proposed this version; another executive decides it (no self-approval)")
    return pending


def pending_for(number: int, proposed_by: str, since: dt.datetime, policy: Policy) -> PendingSoa:
    """The proposal's deadline is the gate SLA; its ladder the gates' 50/100/200 %."""
    due = Duration.parse(policy.gate_sla).after(since)
    steps = policy.gate_escalation.steps(since, due)
    return PendingSoa(number=number, proposed_by=proposed_by, since=since, due_at=due, steps=steps)


class SoaInput(Model):
    pending: PendingSoa | None = None
