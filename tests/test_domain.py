"""Unit tests of the domain's small parts: durations, conditions, bounds, state upgrades."""

from __future__ import annotations

import datetime as dt

import pytest

from aims.domain.durations import Duration

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        ("P3M", dt.datetime(2027, 1, 31, tzinfo=UTC), dt.datetime(2027, 4, 30, tzinfo=UTC)),
        ("P1Y", dt.datetime(2028, 2, 29, tzinfo=UTC), dt.datetime(2029, 2, 28, tzinfo=UTC)),
        ("P1W2D", dt.datetime(2027, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 10, tzinfo=UTC)),
        ("PT1H30M", dt.datetime(2027, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, 1, 30, tzinfo=UTC)),
        ("PT0.5S", dt.datetime(2027, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("P14M", dt.datetime(2027, 11, 15, tzinfo=UTC), dt.datetime(2029, 1, 15, tzinfo=UTC)),
    ],
)
def test_durations_with_calendar_months(text: str, start: dt.datetime, expected: dt.datetime):
    assert Duration.parse(text).after(start) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "3M", "P-1D", "P0D", "PT0S", "P1.5M", "banana", None])
def test_durations_that_are_not_iso_8601_or_not_positive_are_refused(text):
    with pytest.raises(ValueError, match="ISO 8601|longer than zero"):
        Duration.parse(text)


def test_a_fraction_of_a_duration_with_months():
    start = dt.datetime(2027, 1, 31, tzinfo=UTC)
    assert Duration.parse("P1M").fraction_after(start, 0.5) == start + (dt.datetime(2027, 2, 28, tzinfo=UTC) - start) / 2
    assert str(Duration.parse(" P5D ")) == "P5D"


# ------------------------------------------------------------ the condition language

from aims.domain import conditions  # noqa: E402
from aims.domain.conditions import ConditionError  # noqa: E402

DOCUMENT = {"a": {"ynu": "unsure", "kind": "x", "many": ["p", "q"]}, "b": {"ynu": "no"}}
FACTS = {"present": True, "absent": False, "theme:security": True}


@pytest.mark.parametrize(
    ("condition", "holds", "because"),
    [
        ({"field": "a.ynu", "is": "yes"}, True, ["a.ynu=unsure"]),
        ({"field": "a.ynu", "is": "no"}, True, ["a.ynu=unsure"]),
        ({"field": "b.ynu", "is": "yes"}, False, []),
        ({"field": "b.ynu", "is": "no"}, True, ["b.ynu=no"]),
        ({"field": "a.kind", "in": ["x", "y"]}, True, ["a.kind=x"]),
        ({"field": "a.kind", "in": ["y"]}, False, []),
        ({"field": "a.kind", "not_in": ["y"]}, True, ["a.kind=x"]),
        ({"field": "a.kind", "not_in": ["x"]}, False, []),
        ({"field": "a.many", "intersects": ["q", "z"]}, True, ["a.many=[p,q]"]),
        ({"field": "a.many", "intersects": ["z"]}, False, []),
        ({"field": "a.many", "lacks_any": ["p", "z"]}, True, ["a.many=[p,q]"]),
        ({"field": "a.many", "lacks_any": ["p", "q"]}, False, []),
        ({"fact": "present"}, True, ["present"]),
        ({"fact": "absent"}, False, []),
        ({"theme_fired": "security"}, True, []),
        ({"theme_fired": "privacy"}, False, []),
        ({"not": {"fact": "absent"}}, True, []),
        ({"not": {"fact": "present"}}, False, []),
        ({"all": [{"fact": "present"}, {"field": "b.ynu", "is": "no"}]}, True, ["present", "b.ynu=no"]),
        ({"all": [{"fact": "present"}, {"fact": "absent"}]}, False, []),
        ({"any": [{"fact": "absent"}, {"field": "a.kind", "in": ["x"]}, {"fact": "present"}]}, True,
         ["a.kind=x", "present"]),
        ({"any": [{"fact": "absent"}, {"field": "b.ynu", "is": "yes"}]}, False, []),
    ],
)  # fmt: skip
def test_conditions_hold_and_say_why(condition, holds: bool, because: list[str]):
    assert conditions.evaluate(condition, DOCUMENT, FACTS) == (holds, because)


@pytest.mark.parametrize(
    ("tier", "holds", "because"),
    [("T1_LOW", False, []), ("T2_MEDIUM", True, ["aims_tier=T2_MEDIUM"]), ("T3_HIGH", True, ["aims_tier=T3_HIGH"])],
)
def test_tier_at_least(tier: str, holds: bool, because: list[str]):
    assert conditions.evaluate({"tier_at_least": "T2_MEDIUM"}, DOCUMENT, FACTS, tier=tier) == (holds, because)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"tier_at_least": "T2_MEDIUM"}, "tier_at_least is only allowed in sign-off blockers"),
        ({"fact": "nope"}, "unknown fact 'nope'"),
        ({"field": "a.missing", "is": "yes"}, "unknown field 'a.missing'"),
        ({"field": "a.kind"}, "condition on 'a.kind' needs is/in/not_in/intersects/lacks_any"),
        ({"what": 1}, "unknown condition {'what': 1}"),
    ],
)
def test_evaluating_a_malformed_condition_says_what_is_wrong(condition, message: str):
    with pytest.raises(ConditionError) as error:
        conditions.evaluate(condition, DOCUMENT, FACTS)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({}, "R: a condition must be a non-empty mapping"),
        ([], "R: a condition must be a non-empty mapping"),
        ({"all": []}, "R: all/any need a non-empty list"),
        ({"any": "x"}, "R: all/any need a non-empty list"),
        ({"all": [{"fact": "present"}, {"fact": "nope"}]}, "R[1]: unknown fact 'nope'"),
        ({"not": {"fact": "nope"}}, "R: unknown fact 'nope'"),
        ({"tier_at_least": "T9"}, "R: unknown tier 'T9'"),
        ({"field": "nowhere", "is": "yes"}, "R: unknown field 'nowhere'"),
        ({"field": "a.kind"}, "R: needs one of is, in, not_in, intersects, lacks_any"),
        ({"field": "a.kind", "is": "maybe"}, "R: is must be yes or no"),
        ({"other": 1}, "R: unknown condition {'other': 1}"),
    ],
)
def test_a_malformed_policy_condition_is_refused_when_loaded(condition, message: str):
    with pytest.raises(ConditionError) as error:
        conditions.validate(condition, lambda path: path.startswith("a."), {"present"}, "R")
    assert str(error.value) == message


def test_well_formed_policy_conditions_pass():
    for condition in ({"fact": "present"}, {"theme_fired": "security"}, {"tier_at_least": "T3_HIGH"},
                      {"not": {"field": "a.kind", "in": ["x"]}}, {"any": [{"field": "a.ynu", "is": "no"}]}):  # fmt: skip
        conditions.validate(condition, lambda path: path.startswith("a."), {"present"}, "R")


# ------------------------------------------------------------ the assessment draft

from aims.domain.assessment_draft import draft_assessment  # noqa: E402
from aims.domain.classification import classify  # noqa: E402
from aims.domain.intake import Intake  # noqa: E402
from tests.domain_kit import POLICY  # noqa: E402
from tests.intakes import changed, code_assistant, invoice_ocr  # noqa: E402


def test_the_draft_has_a_risk_per_fired_rule_with_the_theme_controls():
    intake = Intake.model_validate(changed(code_assistant(), people__affected_persons=["employees", "students"],
                                           people__decision_effect="significant"))  # fmt: skip
    draft = draft_assessment(intake, classify(intake, POLICY), POLICY)
    assert draft["risks"][0] == {
        "description": "SEC-2 (security): security.untrusted_input=yes, security.confidential_access=yes",
        "likelihood": 3, "impact": 3, "treatment": "mitigate", "treatment_plan": "", "controls": ["A.6.2.8", "A.6.2.6"],
    }  # fmt: skip
    assert draft["stakeholders"] == ["employees", "students"]
    assert draft["impacts"][0] == {
        "stakeholder": "employees", "description": "Reads supplier invoices into the ledger (no decisions about people)",
        "severity": 4, "likelihood": 2, "mitigation": "",
    }  # fmt: skip
    assert draft["conclusion"] == ""


def test_the_draft_of_a_quiet_intake_still_has_a_risk_and_a_stakeholder():
    intake = Intake.model_validate(invoice_ocr())
    draft = draft_assessment(intake, classify(intake, POLICY), POLICY)
    assert draft["risks"] == [{"description": "Invoice OCR gives wrong or unexpected results", "likelihood": 2,
                               "impact": 2, "treatment": "accept", "treatment_plan": "", "controls": ["A.6.2.4"]}]  # fmt: skip
    assert draft["stakeholders"] == ["the organisation"] and draft["impacts"][0]["severity"] == 1


def test_a_t3_rule_drafts_a_higher_impact():
    intake = Intake.model_validate(changed(invoice_ocr(), accuracy__worst_consequence="harm_to_health_safety_or_rights"))
    draft = draft_assessment(intake, classify(intake, POLICY), POLICY)
    assert [(r["description"][:5], r["impact"]) for r in draft["risks"]] == [("ACC-1", 4)]


# ------------------------------------------------------------ who reads what

from aims.domain import permissions  # noqa: E402
from tests import domain_kit as kit  # noqa: E402


@pytest.mark.parametrize(
    ("who", "visibility", "may"),
    [
        (kit.REQ, "involved", True),
        (kit.OWNER, "involved", True),
        (kit.RISK, "involved", True),
        (kit.actor("admin@example.com", "admin"), "involved", True),
        (kit.OUTSIDER, "involved", False),
        (kit.OUTSIDER, "organisation", True),
        (kit.actor("decided@example.com"), "involved", False),
    ],
)
def test_who_reads_a_use_case_in_full(who, visibility: str, may: bool):
    assert permissions.may_read_detail(kit.in_status("in_review"), who, visibility) is may


def test_a_decider_reads_the_use_case_they_decided():
    state = kit.in_status("approved")
    assert permissions.involved(state, "risk@example.com") and not permissions.involved(state, "someone@example.com")
    assert permissions.may_read_detail(state, kit.OUTSIDER, "involved", deciders={"outsider@example.com"})


# ------------------------------------------------------------ small models

from aims.domain import actions  # noqa: E402
from aims.domain.bounds import bounded_list, check_document_size  # noqa: E402
from aims.domain.policy import StageSla  # noqa: E402
from aims.domain.state import ReviewCycle, UseCaseState  # noqa: E402


def test_material_change_lists_every_yes_and_unsure():
    change = actions.MaterialChange(purpose="yes", data="no", model_or_supplier="unsure", users="no")
    assert change.any_change() == ["purpose", "model_or_supplier"]
    assert actions.MaterialChange(purpose="no", data="no", model_or_supplier="no", users="no").any_change() == []


def _max_items(field) -> int:
    return next(m.max_length for m in field.metadata if hasattr(m, "max_length"))


def test_bounded_lists_default_to_fifty_items():
    assert _max_items(bounded_list()) == 50
    assert _max_items(bounded_list(max_items=3, min_length=1)) == 3


def test_a_document_over_its_budget_says_how_big_it_is():
    big = actions.Assessment.model_construct(risks=[], stakeholders=[], impacts=[], conclusion="x" * 70_000)
    with pytest.raises(ValueError) as error:
        check_document_size(big, "assessment")
    assert str(error.value) == (
        "the assessment is 70,059 bytes as JSON, over the 65,536-byte limit for one assessment; shorten its longest texts"
    )


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.d", "@c.d"])
def test_an_owner_must_be_an_email(email: str):
    with pytest.raises(ValueError, match="must be an e-mail address"):
        Intake.model_validate(changed(invoice_ocr(), business_owner=email))


def test_emails_are_stored_in_lower_case():
    assert Intake.model_validate(changed(invoice_ocr(), business_owner=" Owner@Example.COM ")).business_owner == (
        "owner@example.com"
    )


def test_none_is_alone_in_a_list():
    with pytest.raises(ValueError, match='personal_data: "none" cannot be combined'):
        Intake.model_validate(changed(invoice_ocr(), data__personal_data=["none", "biometric"]))


def test_stage_deadlines_by_status_and_review_intervals_by_tier():
    stage = StageSla()
    assert str(stage.for_status("assessment")) == "P10D" and str(stage.for_status("approved")) == "P30D"
    assert stage.for_status("in_review") is None and stage.for_status("in_production") is None
    timing = POLICY.timing().model_copy(update={"review_interval": {"T1_LOW": "P6M", "T2_MEDIUM": "P3M", "T3_HIGH": "P1M"}})
    assert str(timing.review_interval_for("T1_LOW")) == "P6M"
    assert str(timing.review_interval_for("T4_UNACCEPTABLE")) == "P1M"  # the strictest defined


def test_state_of_the_first_generation_is_read_into_this_one():
    """Workflows that started on earlier code carry whole documents in their state."""
    current = kit.in_status("under_review")
    old = current.model_dump(mode="json")
    for key in ("conflicted", "assessed_version", "signed_off_version", "operations"):
        old.pop(key)
    old |= {"intake": {"operations": {"kill_switch": "yes"}}, "assessment_version": 1, "signoff": {"version": 1},
            "assessment": {"risks": []}}  # fmt: skip
    old["review"] = {k: v for k, v in old["review"].items() if k not in ("escalation_level", "proposal")} | {
        "overdue_level": 1, "answer": {"proposal": "continue"}}  # fmt: skip
    upgraded = UseCaseState.model_validate(old)
    assert upgraded.conflicted == ["owner@example.com", "req@example.com"]
    assert (upgraded.assessed_version, upgraded.signed_off_version, upgraded.operations.kill_switch) == (1, 1, "yes")
    assert upgraded.review is not None and upgraded.review.escalation_level == 2 and upgraded.review.proposal == "continue"
    assert ReviewCycle.model_validate(old["review"] | {"overdue_level": 2}).escalation_level == 3
    assert UseCaseState.model_validate(current.model_dump(mode="json")) == current
