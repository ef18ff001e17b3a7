"""The intake body, exactly as the product contract names it.

Unknown keys and unknown enum values are rejected (pydantic reports the field path);
free text is trimmed and required text must be non-empty after trimming.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from aims.domain.bounds import (
    DOCUMENT_LIMIT_SCHEMA,
    DOCUMENT_MAX_BYTES,
    EMAIL_MAX,
    Name,
    RequiredShortText,
    RequiredText,
    ShortText,
    Text,
    bounded_list,
    check_document_size,
)

YNU = Literal["yes", "no", "unsure"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("must be an e-mail address")
    return value


Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX), AfterValidator(_email)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SourcingMethod = Literal[
    "built_in_house",
    "fine_tuned_third_party_model",
    "third_party_model_via_api",
    "third_party_saas_as_is",
    "ai_feature_in_existing_vendor_software",
    "open_weights_self_hosted",
]
THIRD_PARTY_METHODS = frozenset(
    {
        "fine_tuned_third_party_model",
        "third_party_model_via_api",
        "third_party_saas_as_is",
        "ai_feature_in_existing_vendor_software",
    }
)
AnnexIIIUse = Literal[
    "none", "iii_1a", "iii_1b", "iii_1c", "iii_2a", "iii_3a", "iii_3b", "iii_3c", "iii_3d",
    "iii_4a", "iii_4b", "iii_5a", "iii_5b", "iii_5c", "iii_5d", "iii_6a", "iii_6b", "iii_6c",
    "iii_6d", "iii_6e", "iii_7a", "iii_7b", "iii_7c", "iii_7d", "iii_8a", "iii_8b",
]  # fmt: skip
AffectedPerson = Literal[
    "none", "employees", "job_applicants", "students", "patients", "consumers_customers",
    "general_public", "children", "other_vulnerable", "migrants", "suspects_defendants",
]  # fmt: skip
PersonalData = Literal[
    "none", "pseudonymised", "ordinary_personal", "special_category", "criminal_offence",
    "biometric", "children", "precise_location",
]  # fmt: skip
DataSource = Literal[
    "internal_systems", "customer_provided", "user_prompts", "public_web_scraped",
    "purchased_third_party", "synthetic",
]  # fmt: skip
SupplierDoc = Literal["instructions_for_use", "model_card", "downstream_provider_info", "security_attestation"]


def _no_none_mix(values: list[str], field: str) -> list[str]:
    if "none" in values and len(values) > 1:
        raise ValueError(f'{field}: "none" cannot be combined with other values')
    return values


class Supplier(Strict):
    name: RequiredShortText
    model: ShortText = ""
    version_pinned: YNU
    hosting_region: ShortText = ""
    gpai: YNU


class Sourcing(Strict):
    methods: list[SourcingMethod] = bounded_list(min_length=1, max_items=6)
    own_name_or_trademark: YNU
    substantial_modification: YNU
    gpai_provider: YNU
    suppliers: list[Supplier] = bounded_list(default_factory=list, max_items=20)
    data_sent_to_supplier: Literal["none", "public", "internal", "confidential", "personal", "special_category"]
    dpa_signed: YNU
    supplier_may_train_on_our_data: YNU
    change_notification: YNU
    supplier_docs: list[SupplierDoc] = bounded_list(default_factory=list, max_items=4)

    @property
    def third_party(self) -> bool:
        return any(m in THIRD_PARTY_METHODS for m in self.methods)


class Prohibited(Strict):
    manipulation: YNU
    exploits_vulnerabilities: YNU
    social_scoring: YNU
    crime_prediction_by_profiling: YNU
    face_scraping: YNU
    emotion_recognition_work_or_education: YNU
    emotion_recognition_medical_or_safety: YNU
    biometric_categorisation_sensitive: YNU
    realtime_remote_biometric_id_law_enforcement: YNU


class HighRisk(Strict):
    annex_i_product: YNU
    annex_i_third_party_conformity: YNU
    annex_iii_uses: list[AnnexIIIUse] = bounded_list(min_length=1, max_items=26)
    profiling: YNU
    art6_3_derogation: Literal["none", "a", "b", "c", "d"]
    derogation_justification: Text = ""

    @model_validator(mode="after")
    def _check(self) -> HighRisk:
        _no_none_mix(list(self.annex_iii_uses), "annex_iii_uses")
        if self.art6_3_derogation != "none" and not self.derogation_justification:
            raise ValueError("derogation_justification is required when art6_3_derogation is not none")
        return self


class Transparency(Strict):
    interacts_with_people: YNU
    generates_synthetic_content: YNU
    deep_fakes: YNU
    public_interest_text_unreviewed: YNU
    emotion_or_biometric_categorisation: YNU


class People(Strict):
    affected_persons: list[AffectedPerson] = bounded_list(min_length=1, max_items=11)
    exposure: Literal["internal_only", "business_customers", "consumers", "general_public"]
    people_per_year: Literal["under_100", "100_to_10k", "10k_to_1m", "over_1m"]
    decision_role: Literal[
        "no_decisions_about_people",
        "informational_assistive",
        "recommendation_to_human",
        "automated_with_human_review",
        "fully_automated",
    ]
    decision_effect: Literal["none", "minor", "significant", "legal_effect"]
    human_can_override: YNU
    contest_channel: YNU
    protected_characteristics: YNU
    jurisdictions: list[RequiredShortText] = bounded_list(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> People:
        _no_none_mix(list(self.affected_persons), "affected_persons")
        return self


class Data(Strict):
    personal_data: list[PersonalData] = bounded_list(min_length=1, max_items=8)
    sources: list[DataSource] = bounded_list(min_length=1, max_items=6)
    use: Literal["inference_only", "training_or_fine_tuning", "both"]
    dpia_status: Literal["not_needed", "needed_not_started", "in_progress", "done"]
    provenance_documented: YNU
    quality_checks_defined: YNU

    @model_validator(mode="after")
    def _check(self) -> Data:
        _no_none_mix(list(self.personal_data), "personal_data")
        return self

    @property
    def personal_data_present(self) -> bool:
        return list(self.personal_data) != ["none"]


class Accuracy(Strict):
    worst_consequence: Literal[
        "negligible",
        "recoverable_inconvenience",
        "financial_or_material_harm",
        "harm_to_health_safety_or_rights",
        "irreversible_or_catastrophic",
    ]
    human_checks_outputs: Literal["always", "sampled", "never"]
    acceptance_metrics_defined: YNU
    validation_data_representative: YNU
    generative_external_factual: YNU
    learns_after_deployment: YNU


class Security(Strict):
    network_exposure: Literal["internal", "authenticated_external", "public_internet"]
    untrusted_input: YNU
    tool_actions: Literal["none", "read_only", "write_actions", "financial_or_irreversible_actions"]
    confidential_access: YNU
    event_logging: YNU


class Operations(Strict):
    monitoring_plan: Text = ""
    kill_switch: YNU | Literal[""] = ""
    incident_contact: ShortText = ""
    decommission_plan: Text = ""

    def missing_for_signoff(self) -> list[str]:
        """Operations fields still empty; all are required before deployment sign-off."""
        return [name for name in type(self).model_fields if not getattr(self, name)]


class Intake(Strict):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            **DOCUMENT_LIMIT_SCHEMA,
            "description": f"An AI use case intake; at most {DOCUMENT_MAX_BYTES:,} bytes as JSON.",
        },
    )

    name: Name
    purpose: RequiredText
    benefits: Text = ""
    business_owner: Email
    technical_owner: Email | None = None
    business_unit: ShortText = ""
    lifecycle_stage: Literal["idea", "sandbox", "pilot", "production", "change_to_existing"]
    target_go_live: dt.date | None = None
    sourcing: Sourcing
    prohibited: Prohibited
    high_risk: HighRisk
    transparency: Transparency
    people: People
    data: Data
    accuracy: Accuracy
    security: Security
    operations: Operations = Field(default_factory=Operations)

    @model_validator(mode="after")
    def _within_budget(self) -> Intake:
        check_document_size(self, "intake")
        return self

    @model_validator(mode="before")
    @classmethod
    def _empty_technical_owner(cls, values: object) -> object:
        if isinstance(values, dict) and values.get("technical_owner") in ("",):
            values = {**values, "technical_owner": None}
        return values
