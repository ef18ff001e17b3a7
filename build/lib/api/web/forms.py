"""Each action's web form, turned into the same body the REST API takes (then the same command)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import FormData

from aims.domain import actions
from aims.domain.intake import Operations

FormParser = Callable[[FormData], dict[str, Any]]


def _text(form: FormData, key: str) -> str:
    return str(form.get(key, "")).strip()


def _sign_off(form: FormData) -> dict[str, Any]:
    return {
        "operations": {key: _text(form, key) for key in Operations.model_fields},
        "blocker_resolutions": {
            str(rule): {"evidence_url": _text(form, f"evidence_{rule}"), "note": _text(form, f"note_{rule}")}
            for rule in form.getlist("blockers")
        },
        "controls_in_place": [str(control) for control in form.getlist("controls_in_place")],
        "comment": _text(form, "comment"),
    }


def _review(form: FormData) -> dict[str, Any]:
    return {
        "material_change": {key: _text(form, key) for key in actions.MaterialChange.model_fields},
        "incidents_since_last_review": _text(form, "incidents_since_last_review") or "0",
        "kpis": _text(form, "kpis"),
        "proposal": _text(form, "proposal"),
        "comment": _text(form, "comment"),
    }


def _incident(form: FormData) -> dict[str, Any]:
    return {"severity": _text(form, "severity"), "description": _text(form, "description")}


def _reason(form: FormData) -> dict[str, Any]:
    return {"reason": _text(form, "reason")}


def _checklist(form: FormData) -> dict[str, Any]:
    items = [key for key in actions.DecommissionChecklist.model_fields if key != "note"]
    return {key: key in form for key in items} | {"note": _text(form, "note")}


FORMS: dict[str, FormParser] = {
    "sign_off": _sign_off,
    "review": _review,
    "incident": _incident,
    "decommission": _reason,
    "withdraw": _reason,
    "checklist": _checklist,
}
