"""Documents for auditors: HTML pages that print well, and the same templates as PDF (WeasyPrint).

A document template extends `documents/base.html`; its stylesheet is `static/document.css`,
linked for the browser and fetched by WeasyPrint from the same directory for the PDF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
from typing import Any, Protocol
from urllib.parse import urlparse

from fastapi.responses import HTMLResponse, Response
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from aims.application import evidence
from aims.application.service import UseCaseService
from aims.persistence.models import User

from api.web.render import STATIC_DIR, templates



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
    return HTML(string=html, base_url="file:///", url_fetcher=StaticOnly(fail_on_errors=True)).write_pdf()


class StaticOnly(URLFetcher):
    """A document loads aims' own /static files and nothing else (no network, no other file)."""

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        path = urlparse(url).path
        wanted = (STATIC_DIR / path.removeprefix("/static/")).resolve()
        if not path.startswith("/static/") or STATIC_DIR.resolve() not in wanted.parents or not wanted.is_file():
            raise ValueError(f"documents load only aims' own static files, not {url}")
        kind = mimetypes.guess_type(wanted.name)[0] or "text/plain"
        return URLFetcherResponse(url, body=wanted.read_bytes(), headers={"Content-Type": kind})


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
