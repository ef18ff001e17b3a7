"""Every request: its latency by route on /metrics, a span (when tracing is on), and the use
case it is about in every log line it causes."""

from __future__ import annotations

import re
import time
from typing import Any

from opentelemetry import trace
from starlette.responses import Response

from aims.observability import REQUEST_SECONDS, metrics_answer, tracer, use_case_id

_USE_CASE_PATH = re.compile(r"^(?:/api)?/use-cases/([A-Za-z0-9-]{36})(?:/|$)")
# A label's values must be few: a client chooses the method it sends, so any other is "OTHER".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestTelemetry:
    """Pure ASGI middleware (it never reads the body)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        match = _USE_CASE_PATH.match(scope["path"])
        token = use_case_id.set(match.group(1) if match else None)

        async def observed(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        with tracer().start_as_current_span(method, kind=trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, observed)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                REQUEST_SECONDS.labels(method, route, str(status)).observe(time.perf_counter() - started)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                use_case_id.reset(token)


def metrics_response(authorization: str | None, token: str | None) -> Response:
    status, content_type, body = metrics_answer(authorization, token)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status, headers=headers, media_type=content_type)
