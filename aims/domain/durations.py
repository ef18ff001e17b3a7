"""ISO 8601 durations with calendar months, as the policy writes them (P3M, P5D, PT20S)."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from dataclasses import dataclass

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """Months are kept apart from the fixed part because a month has no fixed length."""

    months: int
    fixed: dt.timedelta
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        if not isinstance(text, str):
            raise ValueError(_NOT_A_DURATION.format(text))
        # Cached: every state read validates the policy's durations again, and a policy has a handful.
        return _parse(text)

    def after(self, start: dt.datetime) -> dt.datetime:
        """The instant this duration after `start`; month ends clamp (31 Jan + P1M = 28/29 Feb)."""
        moved = start
        if self.months:
            index = start.month - 1 + self.months
            year, month = start.year + index // 12, index % 12 + 1
            day = min(start.day, calendar.monthrange(year, month)[1])
            moved = start.replace(year=year, month=month, day=day)
        return moved + self.fixed

    def fraction_after(self, start: dt.datetime, fraction: float) -> dt.datetime:
        """The instant `fraction` of this duration (measured from `start`) after `start`."""
        return start + (self.after(start) - start) * fraction

    def __str__(self) -> str:
        return self.text


_NOT_A_DURATION = "{!r} is not an ISO 8601 duration such as P3M, P5D or PT20S"


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> Duration:
    match = _PATTERN.match(text.strip())
    if not match:
        raise ValueError(_NOT_A_DURATION.format(text))
    part = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    fixed = dt.timedelta(
        weeks=part["weeks"], days=part["days"], hours=part["hours"], minutes=part["minutes"], seconds=part["seconds"]
    )
    duration = Duration(months=int(part["years"]) * 12 + int(part["months"]), fixed=fixed, text=text.strip())
    if duration.months == 0 and fixed <= dt.timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return duration
