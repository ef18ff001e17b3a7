"""The register: filters, search, and a CSV export of every matching row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from aims.application.form_errors import plain
from aims.domain.classification import Category
from aims.domain.policy import TIERS
from aims.domain.state import STATUSES
from aims.persistence import queries
from aims.persistence.db import session_factory
from api.web.auth import PageService, ViewerDep
from api.web.csv_cells import csv_cell
from api.web.render import render

router = APIRouter()
PAGE = 100  # rows a page shows; the CSV has them all
CATEGORIES = get_args(Category)
CSV_COLUMNS = ["id", "name", "status", "aims_tier", "regulatory_category", "version", "requester", "business_owner",
               "policy_version", "next_review_due"]  # fmt: skip
@router.get("/use-cases", response_model=None)
def register(
    request: Request,
    viewer: ViewerDep,
    service: PageService,
    status: Annotated[str, Query(max_length=32)] = "",
    aims_tier: Annotated[str, Query(max_length=32)] = "",
    category: Annotated[str, Query(max_length=64)] = "",
    owner: Annotated[str, Query(max_length=320)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    format: Annotated[str, Query(max_length=8)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    given = {"status": status, "aims_tier": aims_tier, "category": category, "owner": owner, "q": q}
    try:
        filters = queries.RegisterFilter.model_validate({key: value or None for key, value in given.items()})
        error = None
    except ValidationError as invalid:
        filters = queries.RegisterFilter()
        error = "; ".join(f"{item['loc'][0]}: {plain(item)}" for item in invalid.errors())
    if format == "csv":
        return StreamingResponse(
            _csv_rows(request.app.state.settings.database_url, filters),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="aims-register.csv"'},
        )
    total, rows = service.register(filters, limit=PAGE, offset=offset)
    return render(
        request, "register.html", viewer, rows=rows, total=total, filters=given, statuses=STATUSES, tiers=TIERS,
        categories=CATEGORIES, error=error, offset=offset, page=PAGE,
        query=urlencode({key: value for key, value in given.items() if value}),  # the filters, for the page links
    )  # fmt: skip


def _csv_rows(database_url: str, filters: queries.RegisterFilter) -> Iterator[str]:
    """Every matching row, streamed (its own session: the request's is gone once streaming starts)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    with session_factory(database_url)() as session:
        for row in queries.iter_use_cases(session, filters):
            writer.writerow(
                [csv_cell(value) for value in (
                    row.id, row.name, row.status, row.aims_tier, row.regulatory_category, row.version, row.requester,
                    row.business_owner, row.policy_version,
                    row.next_review_due.isoformat() if row.next_review_due else "",
                )]
            )  # fmt: skip
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
