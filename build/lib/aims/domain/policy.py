"""The policy as data: durations, gate routing and the rule tables, validated on load."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.durations import Duration

Tier = Literal["T1_LOW", "T2_MEDIUM", "T3_HIGH", "T4_UNACCEPTABLE"]
TIERS: tuple[str, ...] = ("T1_LOW", "T2_MEDIUM", "T3_HIGH", "T4_UNACCEPTABLE")
# The roles gates and policy rules name; `auditor` is a user role that no rule may name (it acts on nothing).
Role = Literal["requester", "aims_owner", "risk", "privacy", "security", "legal", "executive", "admin"]
ROLES: tuple[str, ...] = (
    "requester", "aims_owner", "risk", "privacy", "security", "legal", "executive", "admin", "auditor",
)  # fmt: skip
Condition = dict[str, Any]
# The generation of the lifecycle rules a use case follows. 1: before promises P1–P8 (kept for
# workflows that started then and replay); 2: stage SLAs, per-version assessments, triage.
RULES_GENERATION = 2


def tier_rank(tier: str) -> int:
    return TIERS.index(tier)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    Duration.parse(value)
    return value


class GateEscalation(_Data):
    reminder_at: float = 0.5
    stalled_at: float = 1.0
    executive_at: float = 2.0

    def steps(self, since: dt.datetime, due: dt.datetime) -> list[dt.datetime]:
        """The ladder's rungs for something due at `due` since `since`: reminder, stalled, executive."""
        span = (due - since) / self.stalled_at
        return [since + span * self.reminder_at, since + span * self.stalled_at, since + span * self.executive_at]

    @model_validator(mode="after")
    def _ordered(self) -> GateEscalation:
        if not 0 < self.reminder_at < self.stalled_at < self.executive_at:
            raise ValueError("need 0 < reminder_at < stalled_at < executive_at")
        return self


class StageSla(_Data):
    """How long each waiting status may last before its 50/100/200 % ladder runs (P2)."""

    assessment: str = "P10D"
    changes_requested: str = "P10D"
    legal_hold: str = "P10D"
    approved: str = "P30D"
    suspended: str = "P5D"
    decommissioning: str = "P30D"
    incident_triage: str = "P1D"

    @model_validator(mode="after")
    def _durations(self) -> StageSla:
        for value in self.model_dump().values():
            _duration(value)
        return self

    def for_status(self, status: str) -> Duration | None:
        value = getattr(self, status, None) if status in type(self).model_fields else None
        return Duration.parse(value) if value else None


class ReviewGate(_Data):
    role: Role
    when: Condition | None = None


class TierRoute(_Data):
    review: list[ReviewGate] = Field(default_factory=list)
    final: Role

    @field_validator("review", mode="before")
    @classmethod
    def _bare_roles(cls, value: Any) -> Any:
        return [{"role": item} if isinstance(item, str) else item for item in value or []]


class Routing(_Data):
    T1_LOW: TierRoute
    T2_MEDIUM: TierRoute
    T3_HIGH: TierRoute
    category_extra_review: dict[str, list[Role]] = Field(default_factory=dict)


class RaiseTo(_Data):
    tier: Tier
    when: Condition


class EscalatorRule(_Data):
    rule: str
    theme: str
    min_tier: Tier
    when: Condition
    raise_to: list[RaiseTo] = Field(default_factory=list)
    blocks: Literal["deployment_signoff"] | None = None
    flag: str | None = None


class BlockerRule(_Data):
    rule: str
    theme: str
    meaning: str
    when: Condition


class Policy(_Data):
    version: str = Field(min_length=1)
    review_interval: dict[Literal["T1_LOW", "T2_MEDIUM", "T3_HIGH"], str]
    gate_sla: str
    gate_escalation: GateEscalation = GateEscalation()
    review_sla: str
    review_executive_after: str = "P30D"
    stage_sla: StageSla = StageSla()
    # One person decides at most one approval gate of a version (P1).
    distinct_deciders: bool = True
    # Who reads a use case's full detail: those involved and governance roles, or everyone.
    detail_visibility: Literal["involved", "organisation"] = "involved"
    routing: Routing
    escalators: list[EscalatorRule]
    signoff_blockers: list[BlockerRule]
    theme_controls: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("gate_sla", "review_sla", "review_executive_after")
    @classmethod
    def _iso(cls, value: str) -> str:
        return _duration(value)

    @field_validator("theme_controls")
    @classmethod
    def _controls(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted({c for controls in value.values() for c in controls} - set(ANNEX_A_CONTROLS))
        if unknown:
            raise ValueError(f"not Annex A control ids: {', '.join(unknown)}")
        return value

    @field_validator("review_interval")
    @classmethod
    def _intervals(cls, value: dict[str, str]) -> dict[str, str]:
        missing = {"T1_LOW", "T2_MEDIUM", "T3_HIGH"} - set(value)
        if missing:
            raise ValueError(f"missing tiers: {sorted(missing)}")
        return {tier: _duration(text) for tier, text in value.items()}

    def timing(self) -> Timing:
        return Timing(
            version=self.version,
            review_interval=dict(self.review_interval),
            gate_sla=self.gate_sla,
            gate_escalation=self.gate_escalation,
            review_sla=self.review_sla,
            review_executive_after=self.review_executive_after,
            stage_sla=self.stage_sla,
            distinct_deciders=self.distinct_deciders,
            generation=RULES_GENERATION,
        )


class Timing(_Data):
    """The part of the policy a running lifecycle needs, carried in its state: a use case
    follows the rules it was classified under until a revision re-classifies it."""

    version: str
    review_interval: dict[str, str]
    gate_sla: str
    gate_escalation: GateEscalation
    review_sla: str
    review_executive_after: str
    # Absent in snapshots taken before the rules of generation 2 (see RULES_GENERATION).
    stage_sla: StageSla | None = None
    distinct_deciders: bool = False
    generation: int = 1

    def review_interval_for(self, tier: str) -> Duration:
        # T4 never reaches production; fall back to the strictest interval defined.
        return Duration.parse(self.review_interval.get(tier, self.review_interval["T3_HIGH"]))
