"""The Statement of Applicability: the version in force (JSON, CSV, PDF), its history, and the
governed change (the AIMS owner proposes, another person with the executive role decides)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from aims.application.errors import ServiceError
from aims.application.soa import READERS, SoaService
from aims.domain.soa import SoaDecision, SoaProposal
from aims.persistence.models import User
from api.deps import CurrentUser, IdempotencyKey
from api.web import documents
from api.web.csv_cells import csv_cell

router = APIRouter(prefix="/api", tags=["statement of applicability"])
PDF = {200: {"content": {"application/pdf": {}}, "description": "the Statement of Applicability as PDF"}}
CSV_COLUMNS = ["control", "title", "applicable", "justification", "implementation", "owner", "evidence", "cited_by"]


def soa_service(request: Request, user: User) -> SoaService:
    if not READERS & set(user.roles):
        raise ServiceError("forbidden", "the Statement of Applicability is for the governance roles and auditors")
    return SoaService(request.app.state.settings.database_url, user, request.app.state.gateway)


async def get_soa_service(request: Request, user: CurrentUser) -> SoaService:
    return soa_service(request, user)


SoaDep = Annotated[SoaService, Depends(get_soa_service)]
Number = Annotated[int, Path(ge=1, le=10**9, description="the proposal's number")]


@router.get("/soa")
def read_soa(service: SoaDep) -> dict[str, Any]:
    """The version in force, control by control (with the use cases that cite it), what waits, the history."""
    return service.read()


@router.get("/soa.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def soa_csv(service: SoaDep) -> Response:
    return Response(soa_as_csv(service.read()), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="aims-soa.csv"'})  # fmt: skip


@router.get("/soa.pdf", response_class=Response, responses=PDF)
def soa_pdf(service: SoaDep) -> Response:
    return documents.pdf_response(service, soa_document(service), "aims-soa", "soa")


@router.get("/soa/versions/{number}")
def soa_version(number: Number, service: SoaDep) -> dict[str, Any]:
    """An approved version, as it was approved."""
    return service.version(number)


@router.post("/soa/proposals", status_code=201)
async def propose(proposal: SoaProposal, service: SoaDep, key: IdempotencyKey = None) -> dict[str, Any]:
    """Propose a new version (AIMS owner): every control, applicable or excluded and why.
    Sent again with the same Idempotency-Key, it answers with the proposal it made."""
    return await service.propose(proposal, key)


@router.post("/soa/proposals/{number}/decision")
async def decide(number: Number, decision: SoaDecision, service: SoaDep) -> dict[str, Any]:
    """Approve or reject the waiting proposal (executive; never the proposer)."""
    return await service.decide(number, decision)


def soa_document(service: SoaService) -> str:
    return documents.html_document("documents/soa.html", soa=service.read(), reader=service.user.email)


def soa_as_csv(soa: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in soa["controls"]:
        applicable = {True: "applicable", False: "excluded"}.get(row.get("applicable"), "not decided")
        writer.writerow([csv_cell(value) for value in (
            row["control"], row["title"], applicable, row.get("justification") or "", row.get("implementation") or "",
            row.get("owner") or "", " ".join(row.get("evidence") or []),
            "; ".join(use_case["name"] for use_case in row["cited_by"]),
        )])  # fmt: skip
    return buffer.getvalue()
