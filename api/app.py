"""The FastAPI application: REST API under /api, OpenAPI at /docs, health at /healthz."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import text
from temporalio.client import Client

from aims.persistence.db import session_factory
from aims.runtime import connect
from aims.settings import Settings, current_policy
from api.errors import ServiceError
from api.lifecycle_client import LifecycleClient
from api import slack
from api.routes import approvals, use_cases
from api.web import routes as web
from api.web.routes import SignInRequired


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="aims",
        version="0.1.0",
        description="Durable workflow and approval engine for an ISO/IEC 42001 AI management system.",
    )
    app.state.settings = settings
    app.state.policy = current_policy()
    app.state.lifecycle = _lazy_lifecycle(settings, client)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, __: SignInRequired) -> RedirectResponse:
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, error: ServiceError) -> Response:
        if not request.url.path.startswith(("/api/", "/slack/")):
            return web.render(request, "error.html", None, status_code=error.status, error=error.message)
        headers = {"WWW-Authenticate": "Bearer"} if error.code == "unauthorized" else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        checks: dict[str, Any] = {"database": "ok", "temporal": "ok"}
        try:
            with session_factory(settings.database_url)() as session:
                session.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - a health check reports, it does not raise
            checks["database"] = f"unavailable: {type(error).__name__}"
        try:
            lifecycle = await asyncio.wait_for(app.state.lifecycle(), timeout=3)
            await asyncio.wait_for(lifecycle.client.service_client.check_health(), timeout=3)
        except Exception as error:  # noqa: BLE001
            checks["temporal"] = f"unavailable: {type(error).__name__}"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)

    app.include_router(use_cases.router)
    app.include_router(approvals.router)
    app.include_router(web.router)
    if settings.slack_enabled:
        app.state.slack_tasks = set()
        app.include_router(slack.router)
    return app


def _lazy_lifecycle(settings: Settings, client: Client | None) -> Callable[[], Awaitable[LifecycleClient]]:
    """Connect to Temporal on first use, so the API starts (and reports health) while it is down."""
    cached: list[LifecycleClient] = []
    lock = asyncio.Lock()

    async def get() -> LifecycleClient:
        async with lock:
            if not cached:
                connected = client or await connect(settings.temporal_address, settings.temporal_namespace)
                cached.append(LifecycleClient(connected, settings.task_queue))
            return cached[0]

    return get
