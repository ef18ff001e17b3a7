"""Validation errors in plain words, for people filling in a form (the REST API keeps pydantic's
own wording and types, which programs match on)."""

from __future__ import annotations

from pydantic_core import ErrorDetails


def plain(item: ErrorDetails) -> str:
    """'required', 'at most 200 characters', 'choose one of: minor, major or serious', …"""
    kind, context = item["type"], item.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return "required"
    if kind == "string_too_short":
        return f"at least {context['min_length']} characters"
    if kind == "string_too_long":
        return f"at most {context['max_length']:,} characters"
    if kind == "too_short":
        return "choose at least one" if context.get("min_length") == 1 else f"at least {context['min_length']} items"
    if kind == "too_long":
        return f"at most {context['max_length']} items"
    if kind in ("literal_error", "enum"):
        return "choose one of: " + str(context.get("expected", "")).replace("'", "")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "a whole number"
    if kind == "greater_than_equal":
        return f"at least {context['ge']}"
    if kind == "less_than_equal":
        return f"at most {context['le']:,}"
    if kind == "bool_parsing":
        return "choose yes or no"
    if kind.startswith(("datetime", "date")):
        return "a date and time, e.g. 2027-01-31T17:00"
    if kind.startswith("url"):
        return "a link, e.g. https://wiki.example.com/page"
    return item["msg"].removeprefix("Value error, ")
