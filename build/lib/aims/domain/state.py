"""The state of one use case: only what the rules need.

Documents (intake answers, assessments, sign-offs, comments, incident descriptions) travel
once, inside the audit events of the transition that records them, and live in the register;
the state keeps who did what on which version, so it stays small however long a use case
lives. Carried state is read leniently (`extra="ignore"` plus `_upgrade`) because workflows
that started on earlier code hand their state to this code when they continue as new.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aims.domain.classification import Classification
from aims.domain.intake import Operations
from aims.domain.policy import Timing

Status = Literal[
    "assessment",
    "in_review",
    "changes_requested",
    "legal_hold",
    "approved",
    "in_production",
    "under_review",
    "suspended",
    "rejected",
    "decommissioning",
    "retired",
    "withdrawn",
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
TERMINAL: frozenset[str] = frozenset({"rejected", "retired", "withdrawn"})
# Before a first approval, its requester or owner may withdraw a use case (never a deployed one).
WITHDRAWABLE: frozenset[str] = frozenset({"assessment", "in_review", "changes_requested", "legal_hold"})
# Statuses of a revision in progress: the running system waits for re-approval.
REVISION_STATUSES: frozenset[str] = frozenset({"assessment", "in_review", "changes_requested", "legal_hold"})
GateKind = Literal["review", "final", "continuation", "decommission", "incident_triage"]
APPROVAL_KINDS: frozenset[str] = frozenset({"review", "final"})
GateState = Literal["pending", "open", "approved", "rejected", "changes_requested", "superseded"]
ReviewTrigger = Literal["periodic", "incident", "owner"]
# Roles that may suspend a use case at once on a serious incident (P5), besides its owner.
SUSPENDING_ROLES: frozenset[str] = frozenset({"aims_owner", "risk", "executive"})


class Escalation(enum.IntEnum):
    """How far an item waiting on someone has gone up the 50/100/200 % ladder (P2)."""

    NONE = 0
    REMINDED = 1  # whoever must act was reminded
    STALLED = 2  # past its deadline: the AIMS owner was told; listed in the stalled view
    EXECUTIVE = 3  # the executive role was told

    @classmethod
    def is_stalled(cls, level: int) -> bool:
        return level >= cls.STALLED


class Refused(Exception):
    """A human action the rules do not allow; `code` says how the API answers it."""

    def __init__(self, code: Literal["forbidden", "conflict", "invalid", "not_found"], message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Carried(BaseModel):
    """State carried across runs and stored in the register: unknown keys of older versions are ignored."""

    model_config = ConfigDict(extra="ignore")


class Actor(Model):
    email: str = Field(max_length=320)
    roles: list[str] = Field(default_factory=list, max_length=20)


class Gate(Carried):
    id: str
    role: str
    kind: GateKind
    version: int
    state: GateState
    opened_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    escalation_level: int = Escalation.NONE
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision: str | None = None
    # The incident a triage gate decides on.
    incident: int | None = None

    @property
    def stalled(self) -> bool:
        return Escalation.is_stalled(self.escalation_level)


class ReviewCycle(Carried):
    number: int
    trigger: ReviewTrigger
    opened_at: dt.datetime
    # When the review fell due; the owner's answer is due `review_sla` after it.
    due_at: dt.datetime
    answered_by: str | None = None
    proposal: str | None = None
    escalation_level: int = Escalation.NONE

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and "overdue_level" in data and "escalation_level" not in data:
            # Before the ladder, an overdue review went to the AIMS owner (1) then the executive (2).
            data = {**data, "escalation_level": {0: 0, 1: 2, 2: 3}[data["overdue_level"]]}
            answer = data.get("answer") or {}
            data.setdefault("proposal", answer.get("proposal"))
        return data

    @property
    def answered(self) -> bool:
        return self.answered_by is not None


class StageClock(Carried):
    """The deadline of a waiting status (assessment, changes requested, legal hold, …)."""

    status: str
    since: dt.datetime
    due_at: dt.datetime
    escalation_level: int = Escalation.NONE


class Decommission(Carried):
    requested_by: str
    requested_at: dt.datetime
    checklist_by: str | None = None


class Routing(Carried):
    review_roles: list[str]
    final_role: str | None


class UseCaseState(Carried):
    id: str
    name: str
    requester: str
    business_owner: str
    status: Status
    version: int
    classification: Classification
    routing: Routing
    timing: Timing
    created_at: dt.datetime
    updated_at: dt.datetime
    status_reason: str = ""
    # People who may never decide a gate of this use case (P1): the requester, every business
    # owner of any version, every assessment author and every revision author.
    conflicted: list[str] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)
    assessed_version: int | None = None
    signed_off_version: int | None = None
    # The intake's operations section, completed at sign-off; sign-off needs every field.
    operations: Operations = Field(default_factory=Operations)
    in_production_since: dt.datetime | None = None
    last_review_completed_at: dt.datetime | None = None
    next_review_due: dt.datetime | None = None
    review: ReviewCycle | None = None
    reviews_completed: int = 0
    # Every review gets its own number, also one closed by a revision before completing.
    reviews_opened: int = 0
    incidents: int = 0
    suspended: bool = False
    decommission: Decommission | None = None
    stage: StageClock | None = None
    transition_number: int = 0
    # Set when a review cycle closed: the workflow continues as new to bound its history.
    cycle_closed: bool = False
    seen_requests: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """States carried by workflows of the first generation kept whole documents."""
        if not isinstance(data, dict) or "conflicted" in data:
            return data
        data = dict(data)
        data["conflicted"] = sorted({data.get("requester", ""), data.get("business_owner", "")} - {""})
        data.setdefault("assessed_version", data.get("assessment_version"))
        signoff = data.get("signoff") or {}
        data.setdefault("signed_off_version", signoff.get("version"))
        intake = data.get("intake") or {}
        data.setdefault("operations", intake.get("operations") or {})
        return data

    # ------------------------------------------------------------ questions the rules ask

    @property
    def ever_signed_off(self) -> bool:
        return self.in_production_since is not None

    @property
    def signed_off_now(self) -> bool:
        """The current version is the one signed off for deployment."""
        return self.signed_off_version == self.version

    def gate(self, gate_id: str) -> Gate | None:
        return next((g for g in self.gates if g.id == gate_id), None)

    def open_gates(self) -> list[Gate]:
        return [g for g in self.gates if g.state == "open"]

    def approval_gates(self) -> list[Gate]:
        """The review and final gates of the current version."""
        return [g for g in self.gates if g.version == self.version and g.kind in APPROVAL_KINDS]

    def unresolved_blockers(self) -> list[str]:
        if self.signed_off_now:
            return []
        return list(self.classification.signoff_blockers)

    def deciders_of_version(self) -> set[str]:
        return {g.decided_by for g in self.approval_gates() if g.decided_by}


class AuditEvent(Model):
    type: str
    actor: str
    at: dt.datetime
    version: int
    data: dict[str, Any] = Field(default_factory=dict)


NoticeKind = Literal[
    "assessment_requested",
    "gate_request",
    "gate_reminder",
    "gate_stalled",
    "gate_escalated",
    "stage_reminder",
    "stage_stalled",
    "stage_escalated",
    "decision",
    "signoff_requested",
    "review_due",
    "review_reminder",
    "review_overdue",
    "review_escalated",
    "incident",
    "suspended",
    "legal_hold",
    "rejected",
    "decommission_requested",
    "retired",
    "withdrawn",
    # About the AIMS as a whole: the Statement of Applicability, corrective actions, reviews.
    "soa_proposed",
    "soa_decided",
    "soa_reminder",
    "soa_stalled",
    "soa_escalated",
    "corrective_action_assigned",
    "effectiveness_check_requested",
    "nonconformity_closed",
    "nonconformity_reopened",
    "action_reminder",
    "action_stalled",
    "action_escalated",
    "management_review_due",
]


class Notice(Model):
    """A message to people; `key` makes it unique within its topic (a use case, the SoA, a
    nonconformity, a management review) so a retry sends it once."""

    key: str
    kind: NoticeKind
    subject: str
    to_roles: list[str] = Field(default_factory=list)
    to_emails: list[str] = Field(default_factory=list)
    # People who must not receive it: never prompt someone to decide what they may not decide.
    exclude: list[str] = Field(default_factory=list)
    # The organisation's governance channel hears of it too (stalls, escalations, rejections).
    broadcast: bool = False
    gate_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Transition(Model):
    number: int
    use_case_id: str
    events: list[AuditEvent] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)
