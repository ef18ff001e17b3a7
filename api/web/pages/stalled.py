"""The AIMS owner's view of everything past its deadline or with nobody to act, whatever its kind."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from aims.domain.state import Escalation
from aims.persistence import queries
from api.web.auth import PageService, ViewerDep
from api.web.render import age_days, render, waited

router = APIRouter()
AGE_BUCKETS = [("< 1 day", 1), ("1–3 days", 3), ("3–5 days", 5), ("5–10 days", 10), ("> 10 days", None)]
SORTS = {
    "age": lambda item: -item["age_days"],
    "name": lambda item: item["name"],
    "level": lambda item: -item["escalation_level"],
}


@router.get("/stalled", response_class=HTMLResponse)
def stalled(
    request: Request, viewer: ViewerDep, service: PageService, sort: Annotated[str, Query(max_length=8)] = "age"
) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    items = service.stalled()
    with service.read() as session:
        for item in items:
            item["age_days"] = age_days(item["since"], now)
            item["waited"] = waited(item["since"], now)
            item["reminders"] = queries.reminders_sent(session, item["use_case_id"], item["ref"])
            item["executive_told"] = item["escalation_level"] >= Escalation.EXECUTIVE
        by_status, by_tier = queries.counts_by(session)
        openings = queries.open_gate_openings(session)
    items.sort(key=SORTS.get(sort, SORTS["age"]))
    buckets: Counter[str] = Counter()
    for opened in openings:
        days = age_days(opened, now)
        buckets[next(name for name, limit in AGE_BUCKETS if limit is None or days < limit)] += 1
    chart = [(name, buckets[name]) for name, _ in AGE_BUCKETS]
    return render(
        request, "stalled.html", viewer, items=items, by_status=by_status, by_tier=by_tier, chart=chart,
        chart_max=max([count for _, count in chart] + [1]), sort=sort,
    )  # fmt: skip
