"""Classification against the contract: worked examples, categories, every rule and flag."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aims.domain.classification import classify, review_roles
from aims.domain.intake import Intake
from aims.settings import load_policy
from tests.intakes import changed, code_assistant, invoice_ocr

POLICY = load_policy(None)


def run(intake: dict):
    return classify(Intake.model_validate(intake), POLICY)


def rules(result) -> set[str]:
    return {t.rule for t in result.triggered_rules}


# ---------------------------------------------------------------- worked examples (contract 2.5)


def test_cv_screening_ranker_from_a_vendor():
    result = run(
        changed(
            invoice_ocr(),
            sourcing__methods=["third_party_saas_as_is"],
            sourcing__suppliers=[{"name": "HRCo", "version_pinned": "yes", "gpai": "no"}],
            high_risk__annex_iii_uses=["iii_4a"],
            people__affected_persons=["job_applicants"],
            people__decision_role="recommendation_to_human",
            people__decision_effect="significant",
            data__personal_data=["ordinary_personal"],
        )
    )
    assert (result.regulatory_category, result.aims_tier) == ("HIGH_RISK_ANNEX_III", "T3_HIGH")
    assert "FAI-1" in rules(result)
    assert "SUP-1" in result.signoff_blockers  # vendor docs missing


def test_cv_screening_with_vendor_docs_has_no_sup1_blocker():
    result = run(
        changed(
            invoice_ocr(),
            sourcing__methods=["third_party_saas_as_is"],
            sourcing__supplier_docs=["instructions_for_use", "model_card"],
            high_risk__annex_iii_uses=["iii_4a"],
            people__decision_role="recommendation_to_human",
            people__decision_effect="significant",
            data__personal_data=["ordinary_personal"],
        )
    )
    assert "SUP-1" not in result.signoff_blockers


def test_consumer_credit_scoring():
    result = run(changed(invoice_ocr(), high_risk__annex_iii_uses=["iii_5b"], high_risk__profiling="yes"))
    assert (result.regulatory_category, result.aims_tier) == ("HIGH_RISK_ANNEX_III", "T3_HIGH")
    assert "FRIA_REQUIRED" in result.flags


def test_internal_code_assistant_via_third_party_llm():
    result = run(code_assistant())
    assert (result.regulatory_category, result.aims_tier) == ("MINIMAL", "T2_MEDIUM")
    assert rules(result) == {"SEC-2"}
    sec2 = result.triggered_rules[0]
    assert sec2.because == ["security.untrusted_input=yes", "security.confidential_access=yes"]
    assert result.rubric_version == POLICY.version


def test_marketing_image_generator():
    result = run(changed(invoice_ocr(), transparency__generates_synthetic_content="yes"))
    assert (result.regulatory_category, result.aims_tier) == ("TRANSPARENCY_ONLY", "T1_LOW")
    assert rules(result) == set()
    assert result.flags == ["ART50_2_SYNTHETIC_MARKING"]


def test_employee_emotion_scoring_in_a_call_centre():
    result = run(changed(invoice_ocr(), prohibited__emotion_recognition_work_or_education="yes"))
    assert (result.regulatory_category, result.aims_tier) == ("PROHIBITED", "T4_UNACCEPTABLE")
    assert rules(result) == set()
    assert result.category_reason == ["prohibited.emotion_recognition_work_or_education=yes"]


def test_invoice_ocr():
    result = run(invoice_ocr())
    assert (result.regulatory_category, result.aims_tier) == ("MINIMAL", "T1_LOW")
    assert result.triggered_rules == [] and result.flags == [] and result.signoff_blockers == []


# ---------------------------------------------------------------- categories (contract 2.1)


def test_emotion_recognition_for_medical_reasons_is_annex_iii_not_prohibited():
    result = run(
        changed(
            invoice_ocr(),
            prohibited__emotion_recognition_work_or_education="yes",
            prohibited__emotion_recognition_medical_or_safety="yes",
        )
    )
    assert (result.regulatory_category, result.aims_tier) == ("HIGH_RISK_ANNEX_III", "T3_HIGH")
    assert "iii_1c" in result.category_reason[0]


@pytest.mark.parametrize(
    ("work_or_education", "medical_or_safety", "other", "category"),
    [
        ("yes", "no", "no", "PROHIBITED"),
        ("yes", "yes", "no", "HIGH_RISK_ANNEX_III"),
        # §2.1 rule 1 as clarified: whether the exception applies is for legal to decide.
        ("yes", "unsure", "no", "LEGAL_HOLD"),
        ("yes", "unsure", "yes", "PROHIBITED"),  # another practice is prohibited regardless
        ("unsure", "no", "no", "LEGAL_HOLD"),
        ("unsure", "yes", "no", "LEGAL_HOLD"),
        # The medical/safety answer counts only as the exception, never on its own.
        ("no", "yes", "no", "MINIMAL"),
        ("no", "unsure", "no", "MINIMAL"),
    ],
)
def test_emotion_recognition_and_its_medical_or_safety_exception(
    work_or_education: str, medical_or_safety: str, other: str, category: str
):
    result = run(
        changed(
            invoice_ocr(),
            prohibited__emotion_recognition_work_or_education=work_or_education,
            prohibited__emotion_recognition_medical_or_safety=medical_or_safety,
            prohibited__social_scoring=other,
        )
    )
    assert result.regulatory_category == category
    if category == "LEGAL_HOLD" and work_or_education == "yes":
        assert result.category_reason == [
            "prohibited.emotion_recognition_work_or_education=yes",
            "prohibited.emotion_recognition_medical_or_safety=unsure",
        ]


def test_unsure_on_the_prohibited_screen_is_legal_hold():
    result = run(changed(invoice_ocr(), prohibited__social_scoring="unsure"))
    assert (result.regulatory_category, result.aims_tier) == ("LEGAL_HOLD", "T4_UNACCEPTABLE")


def test_yes_beats_unsure_on_the_prohibited_screen():
    result = run(changed(invoice_ocr(), prohibited__social_scoring="unsure", prohibited__face_scraping="yes"))
    assert result.regulatory_category == "PROHIBITED"


@pytest.mark.parametrize(
    ("answers", "category", "tier"),
    [
        ({"high_risk__annex_i_product": "yes", "high_risk__annex_i_third_party_conformity": "yes"},
         "HIGH_RISK_ANNEX_I", "T3_HIGH"),
        ({"high_risk__annex_i_product": "yes"}, "MINIMAL", "T1_LOW"),
        ({"high_risk__annex_iii_uses": ["iii_4a"], "high_risk__art6_3_derogation": "a",
          "high_risk__derogation_justification": "Narrow procedural task"},
         "ANNEX_III_NOT_HIGH_RISK_ART6_3", "T2_MEDIUM"),
        ({"high_risk__annex_iii_uses": ["iii_4a"], "high_risk__art6_3_derogation": "a",
          "high_risk__derogation_justification": "x", "high_risk__profiling": "unsure"},
         "HIGH_RISK_ANNEX_III", "T3_HIGH"),
        ({"transparency__interacts_with_people": "unsure"}, "TRANSPARENCY_ONLY", "T1_LOW"),
        ({"lifecycle_stage": "sandbox"}, "OUT_OF_SCOPE_RESEARCH", "T1_LOW"),
        ({"lifecycle_stage": "sandbox", "transparency__deep_fakes": "yes"}, "TRANSPARENCY_ONLY", "T1_LOW"),
        ({"sourcing__gpai_provider": "yes"}, "MINIMAL", "T3_HIGH"),
    ],
)  # fmt: skip
def test_category_first_match_wins(answers, category, tier):
    result = run(changed(invoice_ocr(), **answers))
    assert (result.regulatory_category, result.aims_tier) == (category, tier)


# ---------------------------------------------------------------- escalators (contract 2.2)

PUBLIC = {"people__exposure": "general_public"}
THIRD_PARTY = {"sourcing__methods": ["third_party_model_via_api"]}


@pytest.mark.parametrize(
    ("rule", "answers", "tier"),
    [
        ("ACC-1", {"accuracy__worst_consequence": "harm_to_health_safety_or_rights"}, "T3_HIGH"),
        ("ACC-1", {"accuracy__worst_consequence": "irreversible_or_catastrophic"}, "T3_HIGH"),
        ("ACC-2", {"accuracy__worst_consequence": "financial_or_material_harm"}, "T2_MEDIUM"),
        ("ACC-3", {"accuracy__generative_external_factual": "unsure", "accuracy__human_checks_outputs": "never",
                   **PUBLIC}, "T2_MEDIUM"),
        ("PRV-1", {"data__personal_data": ["biometric"]}, "T2_MEDIUM"),
        ("PRV-1", {"data__personal_data": ["children"], "people__decision_role": "recommendation_to_human"},
         "T3_HIGH"),
        ("PRV-2", {"data__personal_data": ["ordinary_personal"], "people__decision_role": "fully_automated",
                   "people__decision_effect": "legal_effect"}, "T3_HIGH"),
        ("PRV-3", {"data__personal_data": ["pseudonymised"], "people__people_per_year": "over_1m"}, "T2_MEDIUM"),
        ("PRV-4", {"sourcing__data_sent_to_supplier": "personal", "sourcing__dpa_signed": "unsure"}, "T2_MEDIUM"),
        ("PRV-4", {"sourcing__data_sent_to_supplier": "special_category", "sourcing__dpa_signed": "yes",
                   "sourcing__supplier_may_train_on_our_data": "yes"}, "T2_MEDIUM"),
        ("SEC-1", {"security__network_exposure": "public_internet", "security__untrusted_input": "yes",
                   "security__tool_actions": "write_actions"}, "T3_HIGH"),
        ("SEC-2", {"security__untrusted_input": "yes", "security__tool_actions": "read_only"}, "T2_MEDIUM"),
        ("SEC-3", {"accuracy__learns_after_deployment": "yes", "security__untrusted_input": "unsure"}, "T2_MEDIUM"),
        ("FAI-1", {"people__decision_role": "automated_with_human_review", "people__decision_effect": "significant"},
         "T3_HIGH"),
        ("FAI-2", {"people__protected_characteristics": "unsure", "people__decision_role": "informational_assistive"},
         "T3_HIGH"),
        ("FAI-3", {"people__affected_persons": ["other_vulnerable"]}, "T2_MEDIUM"),
        ("HOV-1", {"people__decision_role": "fully_automated", "people__decision_effect": "significant"}, "T3_HIGH"),
        ("HOV-2", {"people__human_can_override": "no", "people__exposure": "business_customers"}, "T2_MEDIUM"),
        ("HOV-2", {"people__human_can_override": "unsure", **PUBLIC}, "T2_MEDIUM"),
        ("HOV-3", {"people__contest_channel": "no", "people__decision_effect": "legal_effect"}, "T3_HIGH"),
        ("SUP-2", {**THIRD_PARTY, "sourcing__suppliers": [{"name": "M", "version_pinned": "no", "gpai": "no"}],
                   "accuracy__worst_consequence": "financial_or_material_harm", "accuracy__human_checks_outputs":
                   "always"}, "T2_MEDIUM"),
        ("SUP-2", {**THIRD_PARTY, "sourcing__change_notification": "unsure",
                   "accuracy__worst_consequence": "financial_or_material_harm", "accuracy__human_checks_outputs":
                   "always"}, "T2_MEDIUM"),
        ("SUP-3", {"sourcing__own_name_or_trademark": "yes", "high_risk__annex_iii_uses": ["iii_4a"],
                   "high_risk__art6_3_derogation": "b", "high_risk__derogation_justification": "x"}, "T3_HIGH"),
        ("EXP-1", {"people__people_per_year": "over_1m", **PUBLIC}, "T2_MEDIUM"),
    ],
)  # fmt: skip
def test_escalator_fires_and_raises_the_tier(rule, answers, tier):
    result = run(changed(invoice_ocr(), **answers))
    fired = next(t for t in result.triggered_rules if t.rule == rule)
    assert fired.min_tier == tier
    assert fired.because, "a fired rule names the answers that fired it"
    assert result.aims_tier == tier or result.aims_tier > tier


@pytest.mark.parametrize(
    ("rule", "answers"),
    [
        ("ACC-2", {"accuracy__worst_consequence": "financial_or_material_harm", "accuracy__human_checks_outputs":
                   "always"}),
        ("ACC-3", {"accuracy__generative_external_factual": "yes", "accuracy__human_checks_outputs": "never"}),
        ("PRV-1", {"data__personal_data": ["ordinary_personal"]}),
        ("PRV-3", {"people__people_per_year": "over_1m"}),
        ("PRV-4", {"sourcing__data_sent_to_supplier": "personal", "sourcing__dpa_signed": "yes"}),
        ("SEC-2", {"security__untrusted_input": "yes"}),
        ("HOV-2", {"people__human_can_override": "no"}),
        ("FAI-2", {"people__protected_characteristics": "yes"}),
        ("SUP-2", {"sourcing__suppliers": [{"name": "M", "version_pinned": "no", "gpai": "no"}],
                   "accuracy__worst_consequence": "financial_or_material_harm"}),
        ("EXP-1", {"people__people_per_year": "over_1m", "people__exposure": "consumers"}),
    ],
)  # fmt: skip
def test_escalator_stays_quiet_when_its_condition_fails(rule, answers):
    assert rule not in rules(run(changed(invoice_ocr(), **answers)))


def test_sup3_sets_role_shift_flag():
    result = run(
        changed(
            invoice_ocr(),
            sourcing__substantial_modification="yes",
            high_risk__annex_iii_uses=["iii_3a"],
        )
    )
    assert "ROLE_SHIFT_TO_PROVIDER" in result.flags


# ---------------------------------------------------------------- blockers (contract 2.3)


def test_blockers_need_tier_t2():
    quiet = run(changed(invoice_ocr(), accuracy__acceptance_metrics_defined="no", security__event_logging="no"))
    assert quiet.signoff_blockers == []
    t2 = run(changed(code_assistant(), accuracy__acceptance_metrics_defined="unsure", security__event_logging="no"))
    assert t2.signoff_blockers == ["ACC-4", "SEC-4"]
    acc4 = next(t for t in t2.triggered_rules if t.rule == "ACC-4")
    assert acc4.blocks == "deployment_signoff" and "aims_tier=T2_MEDIUM" in acc4.because


def test_prv4_and_hov3_block_signoff():
    result = run(
        changed(
            invoice_ocr(),
            sourcing__data_sent_to_supplier="personal",
            sourcing__dpa_signed="no",
            people__contest_channel="no",
            people__decision_effect="significant",
        )
    )
    assert {"PRV-4", "HOV-3"} <= set(result.signoff_blockers)


# ---------------------------------------------------------------- flags (contract 2.4)


def test_flags():
    result = run(
        changed(
            invoice_ocr(),
            transparency__interacts_with_people="yes",
            transparency__emotion_or_biometric_categorisation="yes",
            transparency__public_interest_text_unreviewed="yes",
            sourcing__suppliers=[{"name": "M", "version_pinned": "yes", "gpai": "unsure"}],
            data__personal_data=["ordinary_personal"],
            people__people_per_year="10k_to_1m",
            people__affected_persons=["employees"],
            accuracy__worst_consequence="harm_to_health_safety_or_rights",
        )
    )
    assert set(result.flags) == {
        "ART50_1_CHATBOT",
        "ART50_3_EMOTION_BIOCAT_NOTICE",
        "ART50_4_DEEPFAKE_OR_PUBLIC_TEXT",
        "GPAI_DOWNSTREAM",
        "DPIA_REQUIRED",
        "WORKER_INFO_REQUIRED",
    }


# ---------------------------------------------------------------- routing (contract 3)


@pytest.mark.parametrize(
    ("intake", "review", "final"),
    [
        (invoice_ocr(), [], "aims_owner"),
        (code_assistant(), ["risk", "security"], "aims_owner"),
        (changed(invoice_ocr(), data__personal_data=["ordinary_personal"], people__people_per_year="over_1m"),
         ["risk", "privacy"], "aims_owner"),
        (changed(invoice_ocr(), high_risk__annex_iii_uses=["iii_5b"], high_risk__profiling="yes"),
         ["risk", "security", "legal"], "executive"),
        (changed(invoice_ocr(), high_risk__annex_iii_uses=["iii_4a"], high_risk__art6_3_derogation="a",
                 high_risk__derogation_justification="x"), ["risk", "legal"], "aims_owner"),
        (changed(invoice_ocr(), prohibited__manipulation="yes"), [], None),
    ],
)  # fmt: skip
def test_routing(intake, review, final):
    parsed = Intake.model_validate(intake)
    assert review_roles(classify(parsed, POLICY), parsed, POLICY) == (review, final)


# ---------------------------------------------------------------- intake validation


@pytest.mark.parametrize(
    ("answers", "location"),
    [
        ({"people__exposure": "everyone"}, ("people", "exposure")),
        ({"security__surprise": "yes"}, ("security", "surprise")),
        ({"name": "  "}, ("name",)),
        ({"sourcing__methods": []}, ("sourcing", "methods")),
        ({"data__personal_data": ["none", "biometric"]}, ("data",)),
        ({"high_risk__art6_3_derogation": "a"}, ("high_risk",)),
        ({"business_owner": "not-an-email"}, ("business_owner",)),
    ],
)
def test_intake_rejects_unknown_keys_and_values_with_the_field_path(answers, location):
    with pytest.raises(ValidationError) as error:
        Intake.model_validate(changed(invoice_ocr(), **answers))
    assert error.value.errors()[0]["loc"][: len(location)] == location


def test_intake_trims_text():
    assert Intake.model_validate(changed(invoice_ocr(), name="  OCR tool  ")).name == "OCR tool"
