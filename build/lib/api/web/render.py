"""Rendering pages: the Jinja2 environment and the small helpers templates use."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from aims.domain import wording

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parent / "static"


def render(request: Request, name: str, viewer: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "message": request.query_params.get("msg"), **context},
        status_code=status_code,
    )


def countdown(due: str) -> str:
    """'due in 2 d 4 h' or 'overdue by 5 h', for SLA columns."""
    seconds = (dt.datetime.fromisoformat(due) - dt.datetime.now(dt.UTC)).total_seconds()
    days, rest = divmod(abs(int(seconds)), 86400)
    text = f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {rest % 3600 // 60} min"
    return f"due in {text}" if seconds >= 0 else f"overdue by {text}"


def age_days(since: str | dt.datetime | None, now: dt.datetime) -> float:
    if not since:
        return 0.0
    moment = dt.datetime.fromisoformat(since) if isinstance(since, str) else since
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return (now - moment).total_seconds() / 86400


templates.env.globals["countdown"] = countdown
templates.env.tests["startswith"] = lambda value, prefix: str(value).startswith(prefix)
templates.env.globals["next_steps"] = wording.next_steps
