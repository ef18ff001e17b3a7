"""The policy as data: durations, gate routing and the rule tables, validated on load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.durations import Duration

Tier = Literal["T1_LOW", "T2_MEDIUM", "T3_HIGH", "T4_UNACCEPTABLE"]
TIERS: tuple[str, ...] = ("T1_LOW", "T2_MEDIUM", "T3_HIGH", "T4_UNACCEPTABLE")
Role = Literal["requester", "aims_owner", "risk", "privacy", "security", "legal", "executive", "admin"]
ROLES: tuple[str, ...] = ("requester", "aims_owner", "risk", "privacy", "security", "legal", "executive", "admin")
Condition = dict[str, Any]


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

    @model_validator(mode="after")
    def _ordered(self) -> GateEscalation:
        if not 0 < self.reminder_at < self.stalled_at < self.executive_at:
            raise ValueError("need 0 < reminder_at < stalled_at < executive_at")
        return self


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
        )


class Timing(_Data):
    """The part of the policy a running lifecycle needs for its timers, carried in its state."""

    version: str
    review_interval: dict[str, str]
    gate_sla: str
    gate_escalation: GateEscalation
    review_sla: str
    review_executive_after: str

    def review_interval_for(self, tier: str) -> Duration:
        # T4 never reaches production; fall back to the strictest interval defined.
        return Duration.parse(self.review_interval.get(tier, self.review_interval["T3_HIGH"]))
