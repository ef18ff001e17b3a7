"""The management review for top management in the browser: the same document as the API's."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from aims.application.reports import ReportService
from api.routes.reports import review_document
from api.web import documents
from api.web.auth import ViewerDep

router = APIRouter()


@router.get("/reports/management-review", response_class=Response)
def management_review(
    request: Request, viewer: ViewerDep, start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None, pdf: bool = False,
) -> Response:  # fmt: skip
    service = ReportService(request.app.state.settings.database_url, viewer.user, request.app.state.gateway)
    html = review_document(service, service.management_review(start, end, request.app.state.policy.version))
    if pdf:
        return documents.pdf_response(service, html, "aims-management-review", "management_review")
    return documents.html_response(service, html, "management_review")
