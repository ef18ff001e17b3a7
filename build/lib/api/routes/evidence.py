"""Evidence for auditors: signed bundles of the audit chains, the public key that checks them,
the standalone verifier (`python verify_evidence.py BUNDLE.zip --public-key KEY.pem`), and
each use case's evidence pack (HTML, PDF)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from aims import verify_evidence
from aims.application.errors import ServiceError
from aims.application.service import UseCaseService
from aims.settings import SettingsError
from aims.signing import SigningKey
from api.deps import CurrentUser, ServiceDep, UseCaseId
from api.web import documents

router = APIRouter(prefix="/api", tags=["evidence"])
ZIP = {200: {"content": {"application/zip": {}}, "description": "the signed evidence bundle"}}
PDF = {200: {"content": {"application/pdf": {}}, "description": "the document as PDF"}}


@router.get("/evidence/export", response_class=FileResponse, responses=ZIP)
def export_everything(request: Request, service: ServiceDep) -> Response:
    """Every use case's chain and the system chain (AIMS owner, admins, auditors)."""
    return _bundle(request, service, None)


@router.get("/use-cases/{use_case_id}/export", response_class=FileResponse, responses=ZIP)
def export_use_case(use_case_id: UseCaseId, request: Request, service: ServiceDep) -> Response:
    """One use case's chain (for whoever may read its full detail)."""
    return _bundle(request, service, use_case_id)


@router.get("/use-cases/{use_case_id}/evidence", response_class=HTMLResponse)
def evidence_pack_html(use_case_id: UseCaseId, service: ServiceDep) -> Response:
    """The evidence pack as a page that prints well (whoever may read the use case's detail)."""
    return documents.html_response(service, documents.evidence_pack(service, use_case_id), "evidence_pack",
                                   use_case_id=use_case_id)  # fmt: skip


@router.get("/use-cases/{use_case_id}/evidence.pdf", response_class=Response, responses=PDF)
def evidence_pack_pdf(use_case_id: UseCaseId, service: ServiceDep) -> Response:
    """The evidence pack as PDF; generating it is an audit event carrying the PDF's SHA-256."""
    html = documents.evidence_pack(service, use_case_id)
    return documents.pdf_response(service, html, f"aims-evidence-pack-{use_case_id}", "evidence_pack",
                                  use_case_id=use_case_id)  # fmt: skip


@router.get("/evidence/public-key", response_class=PlainTextResponse)
def public_key(request: Request, _: CurrentUser) -> Response:
    """The organisation's Ed25519 public key (PEM): what `verify_evidence.py --public-key` needs."""
    return PlainTextResponse(_signing_key(request).public_pem, media_type="application/x-pem-file")


@router.get("/evidence/verifier", response_class=FileResponse)
def verifier(_: CurrentUser) -> Response:
    """The standalone verifier: one file, needs only Python 3.11+ and `cryptography`."""
    return FileResponse(verify_evidence.__file__, media_type="text/x-python", filename="verify_evidence.py")


def _signing_key(request: Request) -> SigningKey:
    try:
        return request.app.state.settings.signing_key()
    except SettingsError as error:
        raise ServiceError("unavailable", str(error)) from None


def _bundle(request: Request, service: UseCaseService, use_case_id: str | None) -> Response:
    key = _signing_key(request)
    handle, name = tempfile.mkstemp(prefix="aims-evidence-", suffix=".zip")
    try:
        with os.fdopen(handle, "wb") as target:
            service.export_evidence(target, key, use_case_id)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    filename = f"aims-evidence-{use_case_id or 'aims'}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.zip"
    return FileResponse(name, media_type="application/zip", filename=filename,
                        background=BackgroundTask(Path(name).unlink, missing_ok=True))  # fmt: skip
