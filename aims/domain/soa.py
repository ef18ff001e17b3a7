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
from aims.domain.deadlines import Ladder, ladder_audience
from aims.domain.durations import Duration
from aims.domain.intake import Email
from aims.domain.policy import Policy
from aims.domain.state import Actor, Escalation, Model, Notice, Refused

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


def outcome(decision: str) -> Literal["approved", "rejected"]:
    """The status a proposal takes from a decision."""
    return "approved" if decision == "approve" else "rejected"


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
    # Notices the previous run may have left unsent (the new run sends them).
    sweep: bool = False


# ------------------------------------------------------------ who hears of it (topic "soa")

TOPIC, PAGE = "soa", "/soa"


def proposed_notices(number: int, proposed_by: str, due_at: dt.datetime, note: str) -> list[Notice]:
    """The executives (not the proposer) are asked to decide."""
    return [Notice(
        key=f"{number}:proposed", kind="soa_proposed",
        subject=f"Statement of Applicability: proposal {number} waits for an executive's decision "
                f"(due {due_at:%Y-%m-%d %H:%M} UTC)",
        to_roles=[DECIDER_ROLE], exclude=[proposed_by],
        data={"number": number, "path": PAGE, "detail": note, "due_at": due_at.isoformat()},
    )]  # fmt: skip


def decided_notices(number: int, decision: str, by: str, comment: str, proposed_by: str, version: int | None) -> list[Notice]:
    """The proposer and the AIMS owners hear the outcome."""
    outcome = f"approved by {by}: version {version} is in force" if decision == "approve" else f"rejected by {by}"
    return [Notice(
        key=f"{number}:decided", kind="soa_decided",
        subject=f"Statement of Applicability: proposal {number} {outcome}",
        to_roles=[PROPOSER_ROLE], to_emails=[proposed_by], exclude=[by],
        data={"number": number, "path": PAGE, "detail": comment, "decision": decision, "version": version},
    )]  # fmt: skip


def escalation_notices(number: int, proposed_by: str, due_at: dt.datetime, level: int) -> list[Notice]:
    kind = {Escalation.REMINDED: "soa_reminder", Escalation.STALLED: "soa_stalled"}.get(level, "soa_escalated")
    word = {Escalation.REMINDED: "waits for your decision", Escalation.STALLED: "is past its deadline"}.get(
        level, "is past its deadline, escalated to the executives"
    )
    audience = ladder_audience(level, roles=[DECIDER_ROLE], emails=[], exclude=[proposed_by])
    return [Notice(
        key=f"{number}:level{level}", kind=kind,  # type: ignore[arg-type]
        subject=f"Statement of Applicability: proposal {number} {word} (due {due_at:%Y-%m-%d %H:%M} UTC)",
        data={"number": number, "path": PAGE, "level": level, "due_at": due_at.isoformat()},
        **audience,
    )]  # fmt: skip
