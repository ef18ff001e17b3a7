"""Calling the Slack Web API from activities: errors become retry decisions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from opentelemetry.trace import SpanKind
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from temporalio.exceptions import ApplicationError

from activities.channels import PermanentDeliveryError
from aims.observability import tracer
from aims.settings import Settings

log = logging.getLogger(__name__)

# `ok: false` codes that no retry will fix.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "users_not_found",
        "user_not_found",
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
    }
)


def web_client(settings: Settings) -> WebClient:
    # No automatic connection retry: a re-sent chat.postMessage can post twice. Temporal retries
    # the activity instead, and the channel reconciles before posting again.
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, retry_handlers=[])


def call(method: Callable[..., Any], **arguments: Any) -> Any:
    """Call one Web API method. 429 → retry after Retry-After; a permanent `ok: false` →
    `PermanentDeliveryError`; other errors → retryable, logged with Slack's error code."""
    try:
        with tracer().start_as_current_span(f"slack {method.__name__}", kind=SpanKind.CLIENT):
            return method(**arguments)
    except SlackApiError as error:
        response = error.response
        code = response.get("error", "unknown_error") if isinstance(response.data, dict) else "http_error"
        if response.status_code == 429:
            retry_after = int(response.headers.get("Retry-After", response.headers.get("retry-after", 1)))
            log.warning("slack %s rate limited; retry after %ss", method.__name__, retry_after)
            raise ApplicationError(
                f"slack ratelimited on {method.__name__}",
                type="slack_ratelimited",
                next_retry_delay=timedelta(seconds=retry_after),
            ) from None
        if code in PERMANENT_ERRORS:
            log.error("slack %s failed permanently: %s", method.__name__, code)
            raise PermanentDeliveryError(code) from None
        log.warning("slack %s failed (%s, HTTP %s); will retry", method.__name__, code, response.status_code)
        raise ApplicationError(f"slack {method.__name__}: {code}", type="slack_error") from None
