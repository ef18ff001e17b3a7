"""Rendering pages: the Jinja2 environment and the small helpers templates use."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from aims.domain import trail, wording
from api.web import flash
from api.web.submissions import new_submission

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parent / "static"


def submitted(
    action: str | None, values: dict[str, list[str]], errors: dict[str, str] | None = None,
    use_case: str | None = None, gate: str | None = None,
) -> dict[str, Any]:
    """A refused form's input, for its page to show again (`_actions.html`, `_decide.html`)."""
    return {"action": action, "use_case": use_case, "gate": gate, "values": values, "errors": errors or {}}


NOTHING_SUBMITTED = submitted(None, {})  # what the forms show when nothing was refused


def render(request: Request, name: str, viewer: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "message": flash.message_of(request), **context},
        status_code=status_code,
    )


def countdown(due: str, now: dt.datetime | None = None) -> str:
    """'due in 2 d 4 h', 'overdue by 5 h 10 min' or 'due in under a minute', for SLA columns."""
    seconds = (dt.datetime.fromisoformat(due) - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return f"due in {_span(seconds)}" if seconds >= 0 else f"overdue by {_span(seconds)}"


def waited(since: str | dt.datetime | None, now: dt.datetime) -> str:
    """How long something has waited, as `countdown` says it: '2 d 4 h', 'under a minute'."""
    return _span(age_days(since, now) * 86400)


def _span(seconds: float) -> str:
    days, rest = divmod(abs(int(seconds)), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = [(days, "d"), (hours, "h")] if days else [(hours, "h"), (minutes, "min")]
    return " ".join(f"{count} {unit}" for count, unit in parts if count) or "under a minute"


def age_days(since: str | dt.datetime | None, now: dt.datetime) -> float:
    if not since:
        return 0.0
    moment = dt.datetime.fromisoformat(since) if isinstance(since, str) else since
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return max((now - moment).total_seconds(), 0.0) / 86400  # never negative, whatever the clocks say


templates.env.globals["countdown"] = countdown
templates.env.tests["startswith"] = lambda value, prefix: str(value).startswith(prefix)
templates.env.globals["next_steps"] = wording.next_steps
templates.env.globals["counted"] = wording.counted
templates.env.filters["role_name"] = wording.role_name
templates.env.filters["who"] = wording.who
templates.env.globals["describe_event"] = trail.describe
templates.env.globals["new_submission"] = new_submission
