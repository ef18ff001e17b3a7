"""The intake speaks the requester's language: every question and every answer of the model has
plain words (`aims.domain.wording`), and the web form shows them, never the keys."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from aims.domain import actions, wording
from aims.domain.intake import Intake, Supplier
from aims.application.form_errors import plain
from aims.application.intake_form import sections


def _paths(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        path = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _paths(annotation, f"{path}.")
        elif name == "suppliers":
            found |= _paths(Supplier, f"{path}.")
        else:
            found[path] = annotation
    return found


def _literals(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [value for value in typing.get_args(annotation) if value != ""]
    return [value for arg in typing.get_args(annotation) for value in _literals(arg)]


def test_every_question_and_every_answer_has_plain_words():
    paths = _paths(Intake)
    assert set(paths) == set(wording.QUESTIONS), set(paths) ^ set(wording.QUESTIONS)
    unworded = [
        f"{path}={value}"
        for path, annotation in paths.items()
        for value in _literals(annotation)
        if value not in wording.ANSWERS_BY_QUESTION.get(path, {}) and value not in wording.ANSWERS
    ]
    assert not unworded, unworded
    assert set(wording.SECTIONS) == {"", "suppliers"} | {
        name for name, info in Intake.model_fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    }  # fmt: skip
    assert {section.name for section in sections()} == set(wording.SECTIONS)


def test_the_form_shows_words_not_keys():
    fields = {f.name: f for section in sections() for f in section.fields}
    annex_iii = dict(fields["high_risk.annex_iii_uses"].options)
    assert annex_iii["iii_5b"] == "Creditworthiness or credit scoring of people — Annex III 5(b)"
    assert fields["high_risk.art6_3_derogation"].label == "Does an Art. 6(3) exception apply?"
    assert dict(fields["sourcing.methods"].options)["fine_tuned_third_party_model"] == "A supplier's model we fine-tune"
    assert fields["sourcing.suppliers.0.gpai"].label == "Is it a general-purpose AI model?"
    assert all(label != value for f in fields.values() for value, label in f.options if "_" in value)


def test_the_preview_says_what_happens_next():
    assert wording.next_steps("MINIMAL", ["risk", "security"], "aims_owner") == (
        "Next: the business owner fills in the risk and impact assessment, then the risk officer and security "
        "review it, then the AIMS owner gives the final approval; once approved, the owner signs off the deployment."
    )
    assert "forbids" in wording.next_steps("PROHIBITED", [], None)
    assert wording.next_steps("LEGAL_HOLD", [], None).startswith("Legal looks at it first")


def _first_error(model: type[BaseModel], body: dict[str, Any]) -> str:
    try:
        model.model_validate(body)
    except ValidationError as error:
        return plain(error.errors()[0])
    raise AssertionError("valid")


def test_a_form_says_what_is_wrong_in_plain_words_not_pydantic_s():
    decision = {"decision": "approve"}
    assert _first_error(actions.GateDecision, {}) == "required"
    assert _first_error(actions.GateDecision, decision | {"comment": "x" * 5000}) == "at most 4,000 characters"
    assert _first_error(actions.GateDecision, {"decision": "maybe"}) == "choose one of: approve, reject or request_changes"
    assert _first_error(actions.Withdrawal, {"reason": ""}) == "required"
    signoff = {"controls_in_place": []}
    assert _first_error(actions.SignOff, signoff) == "choose at least one"
    review = {"material_change": {k: "no" for k in actions.MaterialChange.model_fields}, "kpis": "ok",
              "proposal": "continue"}  # fmt: skip
    assert _first_error(actions.ReviewAnswer, review | {"incidents_since_last_review": "two"}) == "a whole number"
    assert _first_error(actions.ReviewAnswer, review | {"incidents_since_last_review": -1}) == "at least 0"


def test_whoever_must_act_reads_as_roles_by_name_and_people_by_address():
    assert wording.who(["aims_owner", "risk", "jo_doe@example.com"]) == "AIMS owner, risk, jo_doe@example.com"


def test_a_count_reads_with_its_noun_in_the_singular_only_for_one():
    assert [wording.counted(n, "use case") for n in (0, 1, 2)] == ["0 use cases", "1 use case", "2 use cases"]
