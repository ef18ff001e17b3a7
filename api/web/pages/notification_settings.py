"""Everyone's notification settings page: which channels to hear from aims on, and whether
notices come one by one or in one daily digest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from aims.application.form_errors import plain
from aims.domain.listening import NotificationSettings
from api.web import flash
from api.web.auth import PageService, ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()
PATH = "/settings/notifications"


def _page(request: Request, viewer: ViewerDep, service: PageService, status_code: int = 200, **context: object) -> HTMLResponse:
    settings = request.app.state.settings
    return render(request, "notification_settings.html", viewer, status_code=status_code,
                  listening=service.listening(settings.channel_names), digest_cron=settings.digest_cron,
                  **context)  # fmt: skip


@router.get(PATH, response_class=HTMLResponse)
def settings_page(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    return _page(request, viewer, service)


@router.post(PATH, response_model=None)
def change_settings(
    request: Request, viewer: ViewerDep, service: PageService,
    csrf: Annotated[str, Form(max_length=200)] = "",
    listen: Annotated[list[str], Form(max_length=10)] = [],  # noqa: B006 - FastAPI copies form defaults
    delivery: Annotated[str, Form(max_length=20)] = "immediate",
) -> Response:  # fmt: skip
    check_csrf(viewer, csrf)
    configured = request.app.state.settings.channel_names
    try:
        chosen = NotificationSettings(
            muted_channels=[name for name in configured if name not in listen],  # type: ignore[misc]
            daily_digest=delivery == "daily_digest",
        )
    except ValidationError as error:
        return _page(request, viewer, service, 422, error=plain(error.errors()[0]))
    service.listen(chosen, configured)
    return flash.redirect(request, PATH, "Saved.")
