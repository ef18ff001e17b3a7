"""The management review (ISO/IEC 42001 clause 9.3): the period it looks at, and the decisions
top management records (9.3.3), each of which may start a corrective action with an owner."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from aims.domain.bounds import RequiredText
from aims.domain.nonconformity import CorrectiveAction
from aims.domain.state import Model, Notice, Refused

DEFAULT_PERIOD = dt.timedelta(days=91)  # a quarter
# A review put on the list by the quarterly Schedule is late after this.
DUE_AFTER = dt.timedelta(days=30)
LONGEST_PERIOD = dt.timedelta(days=3 * 366)
READERS = frozenset({"aims_owner", "executive", "admin", "auditor"})
RECORDER_ROLE = "executive"


class ReviewDecision(Model):
    decision: RequiredText
    action: CorrectiveAction | None = Field(None, description="when the decision needs doing: what, who, by when")


class RecordReview(Model):
    period_from: dt.date
    period_to: dt.date
    decisions: list[ReviewDecision] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _ordered(self) -> RecordReview:
        period(self.period_from, self.period_to, self.period_to)
        return self


def period(start: dt.date | None, end: dt.date | None, today: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end] as UTC instants (end inclusive); by default the last quarter up to today."""
    end = end or today
    try:
        start = start or end - DEFAULT_PERIOD
        after_end = end + dt.timedelta(days=1)
    except OverflowError:  # a date at the very edge of the calendar (year 1 or 9999)
        raise ValueError("from and to must be dates between the years 1 and 9998") from None
    if not start <= end or end - start > LONGEST_PERIOD:
        raise ValueError("from must be on or before to, and the period at most three years")
    return dt.datetime.combine(start, dt.time(), dt.UTC), dt.datetime.combine(after_end, dt.time(), dt.UTC)


def previous_quarter(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The calendar quarter before the one `day` is in: [start, end) as UTC instants."""
    quarter_start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    previous = dt.date(quarter_start.year - (quarter_start.month == 1), (quarter_start.month - 4) % 12 + 1, 1)
    return (dt.datetime.combine(previous, dt.time(), dt.UTC), dt.datetime.combine(quarter_start, dt.time(), dt.UTC))


def may_read(roles: list[str]) -> None:
    if not READERS & set(roles):
        raise Refused("forbidden", "the management review is for the AIMS owner, executives, admins and auditors")


def may_record(roles: list[str]) -> None:
    if RECORDER_ROLE not in roles:
        raise Refused("forbidden", "top management (the executive role) records the review's decisions")


def topic(number: int) -> str:
    return f"mr-{number}"


def report_path(start: dt.datetime, end: dt.datetime) -> str:
    """The report of [start, end) (end exclusive, as stored)."""
    return f"/reports/management-review?from={start:%Y-%m-%d}&to={end - dt.timedelta(days=1):%Y-%m-%d}"


def due_notices(number: int, start: dt.datetime, end: dt.datetime, due_at: dt.datetime) -> list[Notice]:
    """The AIMS owner and top management hear that the quarter's review is due, with its report."""
    last = end - dt.timedelta(days=1)
    return [Notice(
        key="due", kind="management_review_due",
        subject=f"The management review of {start:%Y-%m-%d} to {last:%Y-%m-%d} is due by {due_at:%Y-%m-%d}: "
                "its report is ready",
        to_roles=["aims_owner", RECORDER_ROLE],
        data={"number": number, "path": report_path(start, end), "due_at": due_at.isoformat()},
    )]  # fmt: skip
