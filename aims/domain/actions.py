"""What people submit to a running use case: small typed models, validated at the edge."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.intake import YNU, Operations

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
RequiredText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Score = Annotated[int, Field(ge=1, le=5)]


def _control(value: str) -> str:
    if value not in ANNEX_A_CONTROLS:
        raise ValueError(f"{value!r} is not an ISO/IEC 42001 Annex A control id (e.g. A.6.2.4)")
    return value


ControlId = Annotated[str, AfterValidator(_control)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(Body):
    """One row of the AI risk assessment (ISO/IEC 42001 6.1.2)."""

    description: RequiredText
    likelihood: Score
    impact: Score
    treatment: Literal["mitigate", "avoid", "transfer", "accept"]
    treatment_plan: Text = ""
    controls: list[ControlId] = Field(default_factory=list)


class Impact(Body):
    """One consequence for people or society (ISO/IEC 42001 6.1.4, ISO/IEC 42005)."""

    stakeholder: RequiredText
    description: RequiredText
    severity: Score
    likelihood: Score
    mitigation: Text = ""


class Assessment(Body):
    risks: list[Risk] = Field(min_length=1)
    stakeholders: list[RequiredText] = Field(min_length=1)
    impacts: list[Impact] = Field(min_length=1)
    conclusion: RequiredText


class GateDecision(Body):
    decision: Literal["approve", "reject", "request_changes"]
    comment: Text = ""


class BlockerResolution(Body):
    evidence_url: RequiredText
    note: RequiredText


class SignOff(Body):
    operations: Operations = Field(default_factory=Operations)
    blocker_resolutions: dict[str, BlockerResolution] = Field(default_factory=dict)
    controls_in_place: list[ControlId] = Field(min_length=1)
    comment: Text = ""


class MaterialChange(Body):
    purpose: YNU
    data: YNU
    model_or_supplier: YNU
    users: YNU

    def any_change(self) -> list[str]:
        return [key for key, value in self.model_dump().items() if value in ("yes", "unsure")]


class ReviewAnswer(Body):
    material_change: MaterialChange
    incidents_since_last_review: Annotated[int, Field(ge=0)]
    kpis: Literal["ok", "degraded"]
    proposal: Literal["continue", "reassess", "decommission"]
    comment: Text = ""


class Incident(Body):
    severity: Literal["minor", "major", "serious"]
    description: RequiredText
    occurred_at: dt.datetime | None = None


class DecommissionRequest(Body):
    reason: RequiredText


class DecommissionChecklist(Body):
    users_informed: bool
    system_disabled: bool
    data_handled: bool
    supplier_contracts_handled: bool
    records_kept: bool
    note: Text = ""

    def unchecked(self) -> list[str]:
        return [key for key, value in self.model_dump().items() if value is False]
