"""Validation errors in plain words, for people filling in a form (the REST API keeps pydantic's
own wording and types, which programs match on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_core import ErrorDetails

Context = dict[str, Any]


def _one_of(context: Context) -> str:
    return "choose one of: " + str(context["expected"]).replace("'", "")


def _whole_number(_: Context) -> str:
    return "a whole number"


# pydantic's error type → the words, from the error's context (its limits, the choices).
_WORDS: dict[str, Callable[[Context], str]] = {
    "missing": lambda _: "required",
    "string_too_short": lambda c: "required" if c["min_length"] == 1 else f"at least {c['min_length']} characters",
    "string_too_long": lambda c: f"at most {c['max_length']:,} characters",
    "too_short": lambda c: "choose at least one" if c["min_length"] == 1 else f"at least {c['min_length']} items",
    "too_long": lambda c: f"at most {c['max_length']} items",
    "literal_error": _one_of,
    "enum": _one_of,
    "int_parsing": _whole_number,
    "int_type": _whole_number,
    "int_from_float": _whole_number,
    "greater_than_equal": lambda c: f"at least {c['ge']}",
    "less_than_equal": lambda c: f"at most {c['le']:,}",
    "bool_parsing": lambda _: "choose yes or no",
}
_BY_PREFIX = {
    "datetime": "a date and time, e.g. 2027-01-31T17:00",
    "date": "a date, e.g. 2027-01-31",
    "url": "a link, e.g. https://wiki.example.com/page",
}


def plain(item: ErrorDetails) -> str:
    """'required', 'at most 200 characters', 'choose one of: minor, major or serious', …"""
    kind = item["type"]
    if kind in _WORDS:
        return _WORDS[kind](dict(item.get("ctx") or {}))
    prefix = next((words for prefix, words in _BY_PREFIX.items() if kind.startswith(prefix)), None)
    return prefix or item["msg"].removeprefix("Value error, ")
