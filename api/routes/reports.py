"""Reports for top management: the management review (clause 9.3) as HTML, PDF or JSON, and the
decisions recorded on it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from aims.application.reports import ReportService
from aims.domain.management_review import RecordReview
from api.deps import CurrentUser, IdempotencyKey
from api.web import documents

router = APIRouter(prefix="/api/reports", tags=["reports"])
FORMATS = {200: {"content": {"text/html": {}, "application/pdf": {}, "application/json": {}}}}


async def get_service(request: Request, user: CurrentUser) -> ReportService:
    return ReportService(request.app.state.settings.database_url, user, request.app.state.gateway)


ReportDep = Annotated[ReportService, Depends(get_service)]


@router.get("/management-review", response_model=None, responses=FORMATS)
def management_review(
    request: Request,
    service: ReportDep,
    start: Annotated[dt.date | None, Query(alias="from", description="first day (default: a quarter ago)")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last day, included (default: today)")] = None,
    format: Annotated[Literal["html", "pdf", "json"], Query()] = "html",
) -> Response | dict[str, Any]:
    """The inputs of 9.3.2 from live data: previous actions, use cases by tier/status/category,
    approval cycle time, SLA breaches and what is late, overdue re-reviews, incidents by
    severity, nonconformities, changes to the policy and the SoA."""
    report = service.management_review(start, end, request.app.state.policy.version)
    if format == "json":
        return report
    html = review_document(service, report)
    if format == "pdf":
        return documents.pdf_response(service, html, "aims-management-review", "management_review")
    return documents.html_response(service, html, "management_review")


@router.get("/management-reviews")
def reviews(service: ReportDep) -> list[dict[str, Any]]:
    """The reviews held, newest first, with their decisions and the report's SHA-256."""
    return service.reviews()


@router.post("/management-reviews", status_code=201)
async def record_review(
    request: Request, body: RecordReview, service: ReportDep, key: IdempotencyKey = None
) -> dict[str, Any]:
    """Record the review's decisions (executive); a decision with an action starts a corrective
    action. Once per Idempotency-Key."""
    report = service.management_review(body.period_from, body.period_to, request.app.state.policy.version)
    return await service.record(body, documents.sha256(review_document(service, report).encode()), key)


def review_document(service: ReportService, report: dict[str, Any]) -> str:
    return documents.html_document("documents/management_review.html", report=report, reader=service.user.email)
