"""The small condition language of the policy's rule tables.

Evaluating a condition returns whether it holds and, when it does, the `key=value` facts
that made it hold, which become a triggered rule's `because`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aims.domain.policy import TIERS, Condition, tier_rank

# "unsure" lands on the risky side: `is: yes` holds for yes/unsure, `is: no` for no/unsure.
_YNU_HOLDS = {"yes": {"yes", "unsure"}, "no": {"no", "unsure"}}


class ConditionError(ValueError):
    pass


def lookup(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ConditionError(f"unknown field {path!r}")
        value = value[part]
    return value


def evaluate(
    condition: Condition,
    document: Mapping[str, Any],
    facts: Mapping[str, bool],
    tier: str | None = None,
) -> tuple[bool, list[str]]:
    if "all" in condition:
        reasons: list[str] = []
        for part in condition["all"]:
            holds, why = evaluate(part, document, facts, tier)
            if not holds:
                return False, []
            reasons += why
        return True, reasons
    if "any" in condition:
        reasons, held = [], False
        for part in condition["any"]:
            holds, why = evaluate(part, document, facts, tier)
            if holds:
                held, reasons = True, reasons + why
        return held, reasons
    if "not" in condition:
        holds, _ = evaluate(condition["not"], document, facts, tier)
        return not holds, []
    if "fact" in condition:
        name = condition["fact"]
        if name not in facts:
            raise ConditionError(f"unknown fact {name!r}")
        return bool(facts[name]), [name] if facts[name] else []
    if "theme_fired" in condition:
        key = f"theme:{condition['theme_fired']}"
        return bool(facts.get(key)), []
    if "tier_at_least" in condition:
        if tier is None:
            raise ConditionError("tier_at_least is only allowed in sign-off blockers")
        holds = tier_rank(tier) >= tier_rank(condition["tier_at_least"])
        return holds, [f"aims_tier={tier}"] if holds else []
    if "field" in condition:
        return _leaf(condition, document)
    raise ConditionError(f"unknown condition {condition!r}")


def _leaf(condition: Condition, document: Mapping[str, Any]) -> tuple[bool, list[str]]:
    path = condition["field"]
    value = lookup(document, path)
    shown = f"{path}={_show(value)}"
    if "is" in condition:
        holds = value in _YNU_HOLDS[condition["is"]]
    elif "in" in condition:
        holds = value in condition["in"]
    elif "not_in" in condition:
        holds = value not in condition["not_in"]
    elif "intersects" in condition:
        holds = bool(set(value) & set(condition["intersects"]))
    elif "lacks_any" in condition:
        holds = not set(condition["lacks_any"]) <= set(value)
    else:
        raise ConditionError(f"condition on {path!r} needs is/in/not_in/intersects/lacks_any")
    return holds, [shown] if holds else []


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


_FIELD_OPERATORS = ("is", "in", "not_in", "intersects", "lacks_any")


def validate(condition: Any, field_exists: Callable[[str], bool], facts: set[str], where: str) -> None:
    """Reject a malformed condition when the policy is loaded, not when a rule first fires."""
    if not isinstance(condition, Mapping) or len(condition) == 0:
        raise ConditionError(f"{where}: a condition must be a non-empty mapping")
    if "all" in condition or "any" in condition:
        parts = condition.get("all", condition.get("any"))
        if not isinstance(parts, list) or not parts:
            raise ConditionError(f"{where}: all/any need a non-empty list")
        for index, part in enumerate(parts):
            validate(part, field_exists, facts, f"{where}[{index}]")
    elif "not" in condition:
        validate(condition["not"], field_exists, facts, where)
    elif "fact" in condition:
        if condition["fact"] not in facts:
            raise ConditionError(f"{where}: unknown fact {condition['fact']!r}")
    elif "theme_fired" in condition or "tier_at_least" in condition:
        if "tier_at_least" in condition and condition["tier_at_least"] not in TIERS:
            raise ConditionError(f"{where}: unknown tier {condition['tier_at_least']!r}")
    elif "field" in condition:
        if not field_exists(condition["field"]):
            raise ConditionError(f"{where}: unknown field {condition['field']!r}")
        if not any(op in condition for op in _FIELD_OPERATORS):
            raise ConditionError(f"{where}: needs one of {', '.join(_FIELD_OPERATORS)}")
        if "is" in condition and condition["is"] not in _YNU_HOLDS:
            raise ConditionError(f"{where}: is must be yes or no")
    else:
        raise ConditionError(f"{where}: unknown condition {dict(condition)!r}")
