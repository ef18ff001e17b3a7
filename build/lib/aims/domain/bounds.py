"""Input limits (contract §4 P6), declared on the types so the OpenAPI shows them.

Every string is trimmed and may not hold control characters other than tab and newline;
names are at most 200 characters, other free text at most 4,000, lists at most 50 items.
Whole documents (an intake, an assessment) also have a byte budget, so no payload the
workflow sends to Temporal can come near Temporal's limits, whatever the characters.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

NAME_MAX = 200
SHORT_MAX = 200
TEXT_MAX = 4000
URL_MAX = 2000
LIST_MAX = 50
EMAIL_MAX = 320
# A document's JSON (UTF-8) may not exceed this; see `check_document_size`.
DOCUMENT_MAX_BYTES = 64 * 1024
# Request bodies above this are refused with 413 before they are parsed.
BODY_MAX_BYTES = 1024 * 1024
# The register's paging.
LIMIT_MAX = 500
OFFSET_MAX = 10**9

# No C0 control characters except tab, newline and carriage return, and no DEL.
PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=NAME_MAX, pattern=PRINTABLE)
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=SHORT_MAX, pattern=PRINTABLE)]
RequiredShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_MAX, pattern=PRINTABLE)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX, pattern=PRINTABLE)]
RequiredText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX, pattern=PRINTABLE)
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_MAX, pattern=PRINTABLE)]


def bounded_list(**kwargs: Any) -> Any:
    """A list field of at most LIST_MAX items (`max_items` narrows it further)."""
    max_items = kwargs.pop("max_items", LIST_MAX)
    return Field(max_length=max_items, **kwargs)


def document_size(document: Any) -> int:
    """The size in bytes of a pydantic document as JSON (UTF-8)."""
    return len(document.__pydantic_serializer__.to_json(document))


def check_document_size(document: Any, what: str) -> None:
    size = document_size(document)
    if size > DOCUMENT_MAX_BYTES:
        raise ValueError(
            f"the {what} is {size:,} bytes as JSON, over the {DOCUMENT_MAX_BYTES:,}-byte limit for one {what}; "
            "shorten its longest texts"
        )


DOCUMENT_LIMIT_SCHEMA = {
    "x-max-bytes": DOCUMENT_MAX_BYTES,
}
