"""What people submit to a running use case: small typed bodies, validated at the edge."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.bounds import (
    DOCUMENT_LIMIT_SCHEMA,
    DOCUMENT_MAX_BYTES,
    RequiredShortText,
    RequiredText,
    Text,
    Url,
    bounded_list,
    check_document_size,
)
from aims.domain.intake import YNU, Operations

Score = Annotated[int, Field(ge=1, le=5)]
# The 38 ISO/IEC 42001 Annex A control ids, as an enum in the schema.
ControlId = Literal[tuple(ANNEX_A_CONTROLS)]  # type: ignore[valid-type]
RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}-\d{1,3}$", max_length=12)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(Body):
    """One row of the AI risk assessment (ISO/IEC 42001 6.1.2)."""

    description: RequiredText
    likelihood: Score
    impact: Score
    treatment: Literal["mitigate", "avoid", "transfer", "accept"]
    treatment_plan: Text = ""
    controls: list[ControlId] = bounded_list(default_factory=list, max_items=len(ANNEX_A_CONTROLS))


class Impact(Body):
    """One consequence for people or society (ISO/IEC 42001 6.1.4, ISO/IEC 42005)."""

    stakeholder: RequiredShortText
    description: RequiredText
    severity: Score
    likelihood: Score
    mitigation: Text = ""


class Assessment(Body):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            **DOCUMENT_LIMIT_SCHEMA,
            "description": f"The risk and impact assessment; at most {DOCUMENT_MAX_BYTES:,} bytes as JSON.",
        },
    )

    risks: list[Risk] = bounded_list(min_length=1)
    stakeholders: list[RequiredShortText] = bounded_list(min_length=1)
    impacts: list[Impact] = bounded_list(min_length=1)
    conclusion: RequiredText

    @model_validator(mode="after")
    def _within_budget(self) -> Assessment:
        check_document_size(self, "assessment")
        return self


class GateDecision(Body):
    decision: Literal["approve", "reject", "request_changes"]
    comment: Text = ""


class BlockerResolution(Body):
    evidence_url: Url
    note: RequiredText


class SignOff(Body):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            **DOCUMENT_LIMIT_SCHEMA,
            "description": f"The deployment sign-off; at most {DOCUMENT_MAX_BYTES:,} bytes as JSON.",
        },
    )

    operations: Operations = Field(default_factory=Operations)
    blocker_resolutions: dict[RuleId, BlockerResolution] = Field(default_factory=dict, max_length=10)
    controls_in_place: list[ControlId] = bounded_list(min_length=1, max_items=len(ANNEX_A_CONTROLS))
    comment: Text = ""

    @model_validator(mode="after")
    def _within_budget(self) -> SignOff:
        check_document_size(self, "sign-off")
        return self


class MaterialChange(Body):
    purpose: YNU
    data: YNU
    model_or_supplier: YNU
    users: YNU

    def any_change(self) -> list[str]:
        return [key for key, value in self.model_dump().items() if value in ("yes", "unsure")]


class ReviewAnswer(Body):
    material_change: MaterialChange
    incidents_since_last_review: Annotated[int, Field(ge=0, le=100_000)]
    kpis: Literal["ok", "degraded"]
    proposal: Literal["continue", "reassess", "decommission"]
    comment: Text = ""


class Incident(Body):
    severity: Literal["minor", "major", "serious"]
    description: RequiredText
    occurred_at: dt.datetime | None = None


class DecommissionRequest(Body):
    reason: RequiredText


class Withdrawal(Body):
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
