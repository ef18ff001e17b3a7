"""The risk and impact assessment as a real form: risk rows and impact rows that can be added
and removed (a round trip, so it works without JavaScript), Annex A controls as a multi-select,
errors next to the field. Field names are `risks.0.description` and the like, which is also
where the model puts its errors."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from aims.application.form_errors import plain
from aims.domain import actions
from aims.domain.bounds import LIST_MAX

RISK_FIELDS = ("description", "likelihood", "impact", "treatment", "treatment_plan")
IMPACT_FIELDS = ("stakeholder", "description", "severity", "likelihood", "mitigation")
SCORES = {
    "likelihood": ["1 — rare", "2 — unlikely", "3 — possible", "4 — likely", "5 — almost certain"],
    "impact": ["1 — negligible", "2 — minor", "3 — moderate", "4 — major", "5 — severe"],
}
TREATMENTS = {"mitigate": "Mitigate: reduce it", "avoid": "Avoid: do not do the risky part",
              "transfer": "Transfer: insure or contract it out", "accept": "Accept it as it is"}  # fmt: skip


def _rows(form: FormData, kind: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    count = min(_int(form.get(f"{kind}.count")), LIST_MAX)
    rows = []
    for index in range(count):
        row: dict[str, Any] = {name: str(form.get(f"{kind}.{index}.{name}", "")).strip() for name in fields}
        if kind == "risks":
            row["controls"] = [str(value) for value in form.getlist(f"risks.{index}.controls")]
        rows.append(row)
    return rows


def parse(form: FormData) -> dict[str, Any]:
    """The form as the assessment body (scores stay text until the model checks them)."""
    return {
        "risks": _rows(form, "risks", RISK_FIELDS),
        "stakeholders": [line.strip() for line in str(form.get("stakeholders", "")).splitlines() if line.strip()],
        "impacts": _rows(form, "impacts", IMPACT_FIELDS),
        "conclusion": str(form.get("conclusion", "")).strip(),
    }


def change_rows(body: dict[str, Any], action: str) -> dict[str, Any]:
    """`add-risks`, `add-impacts`, `remove-risks-2`, … : the same answers with a row more or less."""
    verb, _, rest = action.partition("-")
    kind, _, index = rest.partition("-")
    if kind not in ("risks", "impacts"):
        return body
    rows = list(body[kind])
    if verb == "add" and len(rows) < LIST_MAX:
        rows.append({"controls": []} if kind == "risks" else {})
    elif verb == "remove" and index.isdigit() and int(index) < len(rows) and len(rows) > 1:
        rows.pop(int(index))
    return body | {kind: rows}


def validate(body: dict[str, Any]) -> tuple[actions.Assessment | None, dict[str, str]]:
    try:
        return actions.Assessment.model_validate(body), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for item in error.errors():
            location = ".".join(str(part) for part in item["loc"]) or "assessment"
            message = plain(item)
            if item["type"] in ("int_parsing", "literal_error", "missing"):
                message = "choose one" if location.rsplit(".", 1)[-1] != "description" else "required"
            errors.setdefault(location, message)
        return None, errors


def _int(value: Any) -> int:
    try:
        return max(int(str(value)), 0)
    except ValueError:
        return 0
