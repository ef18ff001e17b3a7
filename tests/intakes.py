"""Intake bodies for tests: a quiet baseline (nothing fires) and a way to change answers."""

from __future__ import annotations

import copy
from typing import Any

from aims.domain.intake import Prohibited


def invoice_ocr(business_owner: str = "owner@example.com") -> dict[str, Any]:
    """The contract's 'Invoice OCR': MINIMAL, T1, nothing fires."""
    return {
        "name": "Invoice OCR",
        "purpose": "Reads supplier invoices into the ledger",
        "business_owner": business_owner,
        "lifecycle_stage": "pilot",
        "sourcing": {
            "methods": ["built_in_house"],
            "own_name_or_trademark": "no",
            "substantial_modification": "no",
            "gpai_provider": "no",
            "suppliers": [],
            "data_sent_to_supplier": "none",
            "dpa_signed": "no",
            "supplier_may_train_on_our_data": "no",
            "change_notification": "yes",
            "supplier_docs": [],
        },
        "prohibited": {key: "no" for key in Prohibited.model_fields},
        "high_risk": {
            "annex_i_product": "no",
            "annex_i_third_party_conformity": "no",
            "annex_iii_uses": ["none"],
            "profiling": "no",
            "art6_3_derogation": "none",
            "derogation_justification": "",
        },
        "transparency": {
            "interacts_with_people": "no",
            "generates_synthetic_content": "no",
            "deep_fakes": "no",
            "public_interest_text_unreviewed": "no",
            "emotion_or_biometric_categorisation": "no",
        },
        "people": {
            "affected_persons": ["none"],
            "exposure": "internal_only",
            "people_per_year": "under_100",
            "decision_role": "no_decisions_about_people",
            "decision_effect": "none",
            "human_can_override": "yes",
            "contest_channel": "yes",
            "protected_characteristics": "no",
            "jurisdictions": ["EU"],
        },
        "data": {
            "personal_data": ["none"],
            "sources": ["internal_systems"],
            "use": "inference_only",
            "dpia_status": "not_needed",
            "provenance_documented": "yes",
            "quality_checks_defined": "yes",
        },
        "accuracy": {
            "worst_consequence": "recoverable_inconvenience",
            "human_checks_outputs": "sampled",
            "acceptance_metrics_defined": "yes",
            "validation_data_representative": "yes",
            "generative_external_factual": "no",
            "learns_after_deployment": "no",
        },
        "security": {
            "network_exposure": "internal",
            "untrusted_input": "no",
            "tool_actions": "none",
            "confidential_access": "no",
            "event_logging": "yes",
        },
    }


def changed(intake: dict[str, Any], **answers: Any) -> dict[str, Any]:
    """Copy of `intake` with answers given as section__key=value (or key=value at the top)."""
    result = copy.deepcopy(intake)
    for dotted, value in answers.items():
        *sections, key = dotted.split("__")
        target = result
        for section in sections:
            target = target[section]
        target[key] = value
    return result


def code_assistant(business_owner: str = "owner@example.com") -> dict[str, Any]:
    """The contract's internal code assistant via a third-party LLM: MINIMAL, T2, SEC-2."""
    return changed(
        invoice_ocr(business_owner),
        name="Internal code assistant",
        sourcing__methods=["third_party_model_via_api"],
        sourcing__suppliers=[
            {"name": "ModelCo", "model": "m-large", "version_pinned": "yes", "hosting_region": "EU", "gpai": "yes"}
        ],
        sourcing__data_sent_to_supplier="confidential",
        sourcing__dpa_signed="yes",
        security__untrusted_input="yes",
        security__confidential_access="yes",
    )


OPERATIONS = {
    "monitoring_plan": "Weekly accuracy sample, dashboard alerts",
    "kill_switch": "yes",
    "incident_contact": "oncall@example.com",
    "decommission_plan": "Disable the integration, archive logs for 6 years",
}

ASSESSMENT = {
    "risks": [
        {
            "description": "Wrong answers reach a customer",
            "likelihood": 2,
            "impact": 3,
            "treatment": "mitigate",
            "treatment_plan": "Human review of samples",
            "controls": ["A.6.2.4"],
        }
    ],
    "stakeholders": ["customers", "support agents"],
    "impacts": [
        {"stakeholder": "customers", "description": "Delayed answers", "severity": 2, "likelihood": 2}
    ],
    "conclusion": "Acceptable with sampling",
}

SIGNOFF = {"operations": OPERATIONS, "controls_in_place": ["A.6.2.4", "A.6.2.6"]}

REVIEW_CONTINUE = {
    "material_change": {"purpose": "no", "data": "no", "model_or_supplier": "no", "users": "no"},
    "incidents_since_last_review": 0,
    "kpis": "ok",
    "proposal": "continue",
}

CHECKLIST = {
    "users_informed": True,
    "system_disabled": True,
    "data_handled": True,
    "supplier_contracts_handled": True,
    "records_kept": True,
}
