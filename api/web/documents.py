"""Documents for auditors: HTML pages that print well, and the same templates as PDF (WeasyPrint).

A document template extends `documents/base.html`; its stylesheet is `static/document.css`,
linked for the browser and handed to WeasyPrint directly for the PDF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Protocol

from fastapi.responses import HTMLResponse, Response
from weasyprint import CSS, HTML

from aims.application import evidence
from aims.application.service import UseCaseService
from aims.persistence.models import User

from api.web.render import STATIC_DIR, templates

STYLESHEET = STATIC_DIR / "document.css"


def when(instant: str | None) -> str:
    """An ISO instant as an auditor reads it: 2026-11-23 09:41:07 UTC."""
    if not instant:
        return "—"
    return dt.datetime.fromisoformat(instant).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["when"] = when


def html_document(template: str, **context: Any) -> str:
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return templates.get_template(template).render(generated=generated, stylesheet="/static/document.css", **context)


def pdf_document(html: str) -> bytes:
    return HTML(string=html, base_url=str(STATIC_DIR)).write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))])


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def evidence_pack(service: UseCaseService, use_case_id: str) -> str:
    pack = service.evidence_pack(use_case_id)
    return html_document("documents/evidence_pack.html", pack=pack, reader=service.user.email)


class Reader(Protocol):
    """Whoever generates a document (a use case's or the SoA's service): recorded with it."""

    database_url: str
    user: User


def html_response(reader: Reader, html: str, kind: str, **data: str) -> HTMLResponse:
    """The document as a page; generating it is an audit event carrying its SHA-256."""
    _record(reader, kind, sha256(html.encode()), format="html", **data)
    return HTMLResponse(html)


def pdf_response(reader: Reader, html: str, filename: str, kind: str, **data: str) -> Response:
    pdf = pdf_document(html)
    digest = sha256(pdf)
    _record(reader, kind, digest, format="pdf", **data)
    headers = {"Content-Disposition": f'inline; filename="{filename}.pdf"', "X-Content-SHA256": digest}
    return Response(pdf, media_type="application/pdf", headers=headers)


def _record(reader: Reader, kind: str, digest: str, **data: str) -> None:
    evidence.record_generated(
        reader.database_url, kind=kind, digest=digest, by=reader.user.email, now=dt.datetime.now(dt.UTC), **data
    )
