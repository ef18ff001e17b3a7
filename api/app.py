"""The FastAPI application: REST API under /api, web pages, Slack, OpenAPI at /docs, /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from temporalio.client import Client

from aims.connection import connect
from aims.domain.bounds import BODY_MAX_BYTES
from aims.persistence.db import failure_reason, session_factory
from aims.settings import Settings, check_proxy_settings, load_policy
from aims.application.errors import ServiceError
from aims.application.gateway import UseCaseGateway, unavailable
from api import docs
from api.headers import SecurityHeaders
from api.limits import BodyLimit
from api.proxy import TrustedProxies
from api.telemetry import RequestTelemetry, metrics_response
from api.routes import actions, approvals, codec, evidence, nonconformities, reports, soa, use_cases
from api.web import pages, submissions
from api.web.auth import SignInRequired
from api.web.render import STATIC_DIR, render

log = logging.getLogger(__name__)

# How long a command waits to connect to Temporal before it is answered 503 (the API starts, and
# serves reads, without it).
CONNECT_TIMEOUT = 10
# What a client needs beside the error: how to authenticate, when to try again.
_ERROR_HEADERS = {"unauthorized": {"WWW-Authenticate": "Bearer"}, "unavailable": {"Retry-After": "5"}}


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # `asyncio.to_thread`, which token checks, commands and Slack's checks go through, uses
        # these (shut down with the event loop, as its default executor); plain `def` routes
        # run in Starlette's thread pool (docs/architecture.md, "Threads in the API").
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(settings.database_threads, thread_name_prefix="aims-db")
        )
        yield
        if settings.slack_enabled:
            await app.state.slack.close()

    app = FastAPI(
        lifespan=lifespan,
        title="aims",
        version="0.2.0",
        description=(
            "Durable workflow and approval engine for an ISO/IEC 42001 AI management system. "
            f"Request bodies are limited to {BODY_MAX_BYTES:,} bytes (413 above)."
        ),
        # `RequestTelemetry` makes each request's span and metric. FastAPI's own would add a second
        # server span, and it looks up the OpenTelemetry providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served by `api.docs`, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.policy = load_policy(settings.policy_file)
    app.state.gateway = _lazy_gateway(settings, client)
    check_proxy_settings(settings)
    app.add_middleware(BodyLimit, max_bytes=BODY_MAX_BYTES)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestTelemetry)
    app.add_middleware(TrustedProxies, proxies=settings.trusted_proxies)  # outermost: runs first

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, __: SignInRequired) -> RedirectResponse:
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, error: ServiceError) -> Response:
        if not request.url.path.startswith(("/api/", "/slack/", "/codec/")):
            message = error.message
            if submissions.sent_from_a_form(error.retry_key):
                message += "; go back and send the form again to see its outcome (it is recorded once)"
            return render(request, "error.html", None, status_code=error.status, error=message)
        headers = _ERROR_HEADERS.get(error.code, {}) | ({"Idempotency-Key": error.retry_key} if error.retry_key else {})
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, error: Exception) -> Response:
        # Down, restarting, out of connections or locked: nothing was changed, the same request
        # may be sent again.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, failure_reason(error))
        return await _service_error(request, ServiceError("unavailable", "the database is unavailable; try again shortly"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        # The reason and an id to quote; the details go to the log under that id, never to the client.
        error_id = uuid.uuid4().hex[:12]
        log.error("error %s on %s %s", error_id, request.method, request.url.path, exc_info=error)
        message = f"something went wrong on our side (error id {error_id}; quote it when you report this)"
        if not request.url.path.startswith(("/api/", "/slack/", "/codec/")):
            return render(request, "error.html", None, status_code=500, error=message)
        return JSONResponse({"detail": {"error": "internal", "message": message, "error_id": error_id}}, 500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        # Name the field; never echo the input back (it may be large or sensitive).
        detail = [
            {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]} for item in error.errors()[:20]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        # A JSON body that parses past its syntax and still cannot be read (nested too deeply, a
        # number too long for Python, not UTF-8) is a bare 400 from FastAPI: say what is wrong
        # with it, as for a syntax error.
        if error.status_code == 400 and isinstance(error.__cause__, (RecursionError, ValueError)):
            msg = "the body could not be read as JSON (nested too deeply, a number too long, or not UTF-8)"
            return JSONResponse({"detail": [{"loc": ["body"], "msg": msg, "type": "json_invalid"}]}, status_code=422)
        return await http_exception_handler(request, error)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        checks: dict[str, Any] = {"database": "ok", "temporal": "ok"}
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping_database, settings.database_url), timeout=3)
        except Exception as error:  # noqa: BLE001 - a health check reports, it does not raise
            checks["database"] = f"unavailable: {type(error).__name__}"
        try:
            gateway = await asyncio.wait_for(app.state.gateway(), timeout=3)
            await asyncio.wait_for(gateway.client.service_client.check_health(), timeout=3)
        except Exception as error:  # noqa: BLE001
            checks["temporal"] = f"unavailable: {type(error).__name__}"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus: request latency by route, and this process's Temporal client (and worker) metrics."""
        return metrics_response(request.headers.get("authorization"), settings.metrics_token)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """For what names no icon (a JSON answer, the evidence pack): the pages' own."""
        return RedirectResponse("/static/favicon.svg", status_code=301)

    app.include_router(use_cases.router)
    app.include_router(actions.router)
    app.include_router(approvals.router)
    app.include_router(codec.router)
    app.include_router(evidence.router)
    app.include_router(soa.router)
    app.include_router(nonconformities.router)
    app.include_router(reports.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    docs.install(app)
    if settings.slack_enabled:
        from notifications.slack import endpoints
        from notifications.slack.door import SlackDoor

        app.state.slack = SlackDoor(settings, app.state.policy, app.state.gateway)
        app.include_router(endpoints.router)
    return app


def _ping_database(url: str) -> None:
    with session_factory(url)() as session:
        session.execute(text("SELECT 1"))


def _lazy_gateway(settings: Settings, client: Client | None) -> Callable[[], Awaitable[UseCaseGateway]]:
    """Connect to Temporal on first use, so the API starts (and reads work) while it is down."""
    cached: list[UseCaseGateway] = []
    lock = asyncio.Lock()

    async def get() -> UseCaseGateway:
        async with lock:
            if not cached:
                try:
                    connected = client or await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT)
                except (RuntimeError, TimeoutError):  # the SDK's connect fails with a RuntimeError
                    raise unavailable() from None
                cached.append(UseCaseGateway(connected, settings.task_queue))
            return cached[0]

    return get
