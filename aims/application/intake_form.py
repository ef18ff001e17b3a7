"""The intake as a form in a few steps, generated from the `Intake` model so it can never drift
from the contract, and shared by the web pages and the Slack modal. Answers travel as form
values (dotted names → list of strings), which is also how a draft keeps them. Questions that
cannot apply are not asked: a system built in house never sees the supplier questions, and
answers them neutrally."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from aims.application.form_errors import plain
from aims.domain import wording
from aims.domain.bounds import LIST_MAX, TEXT_MAX
from aims.domain.intake import THIRD_PARTY_METHODS, Intake

YNU = ["yes", "no", "unsure"]
SUPPLIER_FIELDS = ["name", "model", "version_pinned", "hosting_region", "gpai"]
# The sourcing questions only a bought or third-party system is asked, on a step of their own,
# and what a system built in house answers to them without seeing them (nothing fires on them).
SUPPLIER_QUESTIONS = ("sourcing.data_sent_to_supplier", "sourcing.dpa_signed",
                      "sourcing.supplier_may_train_on_our_data", "sourcing.change_notification",
                      "sourcing.supplier_docs")  # fmt: skip
IN_HOUSE_ANSWERS: dict[str, list[str]] = {
    "sourcing.data_sent_to_supplier": ["none"], "sourcing.dpa_signed": ["no"],
    "sourcing.supplier_may_train_on_our_data": ["no"], "sourcing.change_notification": ["no"],
}  # fmt: skip
SUPPLIERS_STEP = "suppliers"


@dataclass
class Field:
    name: str  # dotted path, also the form input name
    label: str
    kind: str  # text | textarea | select | multi | list | date
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, what the requester reads)
    required: bool = False
    help: str = ""


@dataclass
class Section:
    name: str  # the intake's key ("" for the top-level questions)
    title: str
    help: str
    fields: list[Field]

    @property
    def step(self) -> str:
        """The step's name in URLs and Slack views."""
        return self.name or "basics"


def _options(annotation: Any) -> list[str]:
    args = typing.get_args(annotation)
    values: list[str] = []
    for arg in args:
        if typing.get_origin(arg) is typing.Literal:
            values += [v for v in typing.get_args(arg) if v != ""]
        elif isinstance(arg, str):
            values.append(arg)
    return values


def _field(path: str, name: str, info: Any) -> Field:
    annotation = info.annotation
    origin = typing.get_origin(annotation)
    label, help_text = wording.question(path)

    def labelled(values: list[str]) -> list[tuple[str, str]]:
        return [(value, wording.answer(path, value)) for value in values]

    if origin is list:
        inner = typing.get_args(annotation)[0]
        options = _options(inner) if typing.get_origin(inner) is typing.Literal else []
        return Field(path, label, "multi" if options else "list", labelled(options), info.is_required(), help_text)
    options = _options(annotation) if typing.get_origin(annotation) in (typing.Literal, typing.Union, None) else []
    if typing.get_origin(annotation) is typing.Literal or (options and origin is typing.Union):
        return Field(path, label, "select", labelled(options), info.is_required(), help_text)
    if "date" in str(annotation):
        return Field(path, label, "date", [], False, help_text)
    kind = "textarea" if name in ("purpose", "benefits", "derogation_justification", "monitoring_plan",
                                  "decommission_plan") else "text"  # fmt: skip
    return Field(path, label, kind, [], info.is_required(), help_text)


def sections() -> list[Section]:
    """Every section, in order; the supplier questions are a section of their own."""
    top = Section("", *wording.SECTIONS[""], [])
    result = [top]
    for name, info in Intake.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = [
                _field(f"{name}.{sub}", sub, sub_info)
                for sub, sub_info in annotation.model_fields.items()
                if sub != "suppliers"
            ]
            if name == "sourcing":
                asked = [f for f in fields if f.name in SUPPLIER_QUESTIONS]
                fields = [f for f in fields if f.name not in SUPPLIER_QUESTIONS]
                result.append(Section(name, *wording.SECTIONS[name], fields))
                supplier = [_supplier_field(key) for key in SUPPLIER_FIELDS]
                result.append(Section(SUPPLIERS_STEP, *wording.SECTIONS[SUPPLIERS_STEP], supplier + asked))
                continue
            result.append(Section(name, *wording.SECTIONS[name], fields))
        else:
            top.fields.append(_field(name, name, info))
    return result


def third_party(values: dict[str, list[str]]) -> bool:
    return any(method in THIRD_PARTY_METHODS for method in values.get("sourcing.methods", []))


def steps(values: dict[str, list[str]]) -> list[Section]:
    """The sections this requester is asked, given their answers so far."""
    return [s for s in sections() if s.name != SUPPLIERS_STEP or third_party(values)]


def step_named(values: dict[str, list[str]], step: str) -> Section | None:
    return next((section for section in steps(values) if section.step == step), None)


def merge(values: dict[str, list[str]], section: Section, submitted: dict[str, list[str]]) -> dict[str, list[str]]:
    """The answers with this step's replaced by what was submitted (an unticked box is an answer too)."""
    names = {field.name for field in section.fields}
    kept = {key: value for key, value in values.items() if key not in names}
    # A draft keeps at most what a field may hold (the form's own limits), whatever is posted.
    given = {name: [v[:TEXT_MAX] for v in submitted.get(name, []) if v.strip()][:LIST_MAX] for name in names}
    return kept | given


def shown(field: Field, values: dict[str, list[str]]) -> str:
    """An answer as the requester reads it (the option's words, not its key)."""
    given = values.get(field.name, [])
    words = dict(field.options)
    return ", ".join(words.get(value, value) for value in given)


def errors_in(section: Section, errors: dict[str, str]) -> dict[str, str]:
    """The errors that belong to this step: its fields (and what is inside them), or the section."""
    fields = [field.name for field in section.fields]
    return {
        location: message
        for location, message in errors.items()
        if location == section.name != "" or any(location == name or location.startswith(f"{name}.") for name in fields)
    }


def _supplier_field(key: str) -> Field:
    label, help_text = wording.question(f"sourcing.suppliers.{key}")
    yes_no = key in ("version_pinned", "gpai")
    options = [(value, wording.answer("", value)) for value in YNU] if yes_no else []
    return Field(f"sourcing.suppliers.0.{key}", label, "select" if yes_no else "text", options, False, help_text)


def parse(form: dict[str, list[str]]) -> dict[str, Any]:
    """Form fields (dotted names) → the nested intake body; empty answers are left out. A system
    built in house answers the supplier questions neutrally (it never saw them)."""
    if not third_party(form):
        form = {key: value for key, value in form.items() if not key.startswith("sourcing.suppliers.")}
        form |= IN_HOUSE_ANSWERS | {"sourcing.supplier_docs": []}
    body: dict[str, Any] = {}
    kinds = {f.name: f.kind for s in sections() for f in s.fields}
    for name, kind in kinds.items():
        values = [v for v in form.get(name, []) if v.strip()]
        if kind == "multi":
            value: Any = values
            if not values:
                continue
        elif kind == "list":
            value = [part.strip() for v in values for part in v.split(",") if part.strip()]
            if not value:
                continue
        elif values:
            value = values[0]
        else:
            continue
        _put(body, name.split("."), value)
    suppliers = body.get("sourcing", {}).get("suppliers")
    if isinstance(suppliers, dict):
        body["sourcing"]["suppliers"] = [suppliers["0"]] if suppliers.get("0", {}).get("name") else []
    return body


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def validate(body: dict[str, Any]) -> tuple[Intake | None, dict[str, str]]:
    """The intake, or the errors keyed by the form field they belong to."""
    try:
        return Intake.model_validate(body), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for item in error.errors():
            location = ".".join(str(part) for part in item["loc"])
            errors.setdefault(location or "form", plain(item))
        return None, errors


def values_of(body: dict[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """An intake body as form values (the inverse of `parse`), to pre-fill a revision."""
    values: dict[str, list[str]] = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        if key == "suppliers":
            for supplier_key, supplier_value in (value[0] if value else {}).items():
                values[f"{name}.0.{supplier_key}"] = [str(supplier_value)]
        elif isinstance(value, dict):
            values |= values_of(value, f"{name}.")
        elif isinstance(value, list):
            values[name] = [",".join(value)] if name == "people.jurisdictions" else [str(v) for v in value]
        elif value is not None:
            values[name] = [str(value)]
    return values
