"""The API side of Slack: the async Web API client, bounded background work, and database work
kept off the event loop (Slack gives an app 3 seconds; nothing may block the answer)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import aiohttp
from opentelemetry.trace import SpanKind
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from activities.channels import Home
from activities.home import home_of
from aims.application.service import GatewayFactory, UseCaseService
from aims.domain.policy import Policy
from aims.observability import tracer
from aims.persistence import users
from aims.persistence.db import transaction
from aims.persistence.models import User
from aims.settings import Settings
from notifications.slack.home import home_view
from notifications.slack.verify import Clock, SystemClock

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_A_USER = "You are not an aims user yet; ask your AIMS owner to add you."
# Background work waits for the answers Slack is waiting on, but never longer than this.
ANSWERS_FIRST_MAX_SECONDS = 0.5
# A Home changed by a burst of clicks is published once, this long after the first of them.
HOME_REFRESH_SECONDS = 1.0


class SlackDoor:
    def __init__(
        self, settings: Settings, policy: Policy, gateway: GatewayFactory, clock: Clock | None = None,
        max_pending: int = 200,
    ):  # fmt: skip
        self.settings = settings
        self.policy = policy
        self.gateway = gateway
        self.clock = clock or SystemClock()
        # Slack's answers, retried here only by the person (a re-sent update could double-post).
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, retry_handlers=[])
        self.max_pending = max_pending
        self._pending: set[asyncio.Task[Any]] = set()
        self._answering = 0
        self._quiet: asyncio.Event | None = None
        self._homes_due: set[str] = set()

    # ------------------------------------------------------------ answers first

    @contextlib.asynccontextmanager
    async def answering(self) -> AsyncIterator[None]:
        """Around each request Slack waits on: background work holds back until none is left, so
        a burst of clicks is answered before the work they started competes for the event loop."""
        self._answering += 1
        self._no_answers_pending().clear()
        try:
            yield
        finally:
            self._answering -= 1
            if self._answering == 0:
                self._no_answers_pending().set()

    def _no_answers_pending(self) -> asyncio.Event:
        if self._quiet is None:  # made on the event loop that serves the requests
            self._quiet = asyncio.Event()
            self._quiet.set()
        return self._quiet

    async def _after_answers(self, work: Coroutine[Any, Any, Any]) -> Any:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_answers_pending().wait(), ANSWERS_FIRST_MAX_SECONDS)
        return await work

    # ------------------------------------------------------------ background work

    def spawn(self, work: Coroutine[Any, Any, Any]) -> bool:
        """Run `work` after the answer to Slack; False (and nothing runs) when too much is pending."""
        if len(self._pending) >= self.max_pending:
            work.close()
            return False
        task = asyncio.create_task(self._after_answers(work))
        self._pending.add(task)
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack background work failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for background work (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """At shutdown: the background work finishes, then the connections to Slack close."""
        await self.settle()
        if self.client.session is not None:
            await self.client.session.close()

    # ------------------------------------------------------------ the database, in a worker thread

    def service_db(self) -> AbstractContextManager[Session]:
        return transaction(self.settings.database_url)

    async def in_session(self, work: Callable[[Session], T]) -> T:
        """`work` in a short unit of work, in a worker thread."""

        def run() -> T:
            with self.service_db() as session:
                return work(session)

        return await asyncio.to_thread(run)

    def service(self, user: User) -> UseCaseService:
        return UseCaseService(
            database_url=self.settings.database_url, user=user, policy=self.policy, gateway=self.gateway
        )

    # ------------------------------------------------------------ Slack

    async def call(self, method: str, **arguments: Any) -> Any | None:
        """One Web API call; a failure is logged with Slack's error code and answered with None."""
        if self.client.session is None or self.client.session.closed:
            # One session, made on the loop that serves requests: its connections to Slack are
            # kept (without it, each call opens a new connection and TLS session).
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        try:
            with tracer().start_as_current_span(f"slack {method}", kind=SpanKind.CLIENT):
                return await getattr(self.client, method)(**arguments)
        except SlackApiError as error:
            log.warning("slack %s failed: %s", method, error.response.get("error"))
            return None

    async def bind(self, slack_user: str) -> bool:
        """Bind a Slack id to the aims user with its profile's e-mail, only within our workspace."""
        info = await self.call("users_info", user=slack_user)
        profile_user = (info or {}).get("user") or {}
        email = (profile_user.get("profile") or {}).get("email")
        team = self.settings.slack_team_id
        if not email or (team is not None and profile_user.get("team_id") != team):
            return False

        def run(session: Session) -> bool:
            user = users.active_user_by_email(session, email)
            if user is None or user.slack_user_id not in (None, slack_user):
                return False
            if user.slack_user_id is None:
                users.bind_slack_id(session, user, slack_user, by=f"slack:{team or 'workspace'}",
                                    now=dt.datetime.now(dt.UTC))  # fmt: skip
            return True

        return await self.in_session(run)

    def refresh_home(self, slack_user_id: str) -> None:
        """The person's Home after a change they made: published once for a burst of changes,
        a moment after the first (an approver clearing twenty gates does not publish it twenty times)."""
        if slack_user_id in self._homes_due:
            return
        self._homes_due.add(slack_user_id)

        async def publish_later() -> None:
            await asyncio.sleep(HOME_REFRESH_SECONDS)
            self._homes_due.discard(slack_user_id)
            await self.publish_home(slack_user_id)

        if not self.spawn(publish_later()):
            self._homes_due.discard(slack_user_id)

    async def publish_home(self, slack_user_id: str) -> None:
        """The person's App Home as the register has it now (or how to get access)."""

        def read(session: Session) -> Home | None:
            user = users.user_by_slack_id(session, slack_user_id)
            return home_of(session, user) if user is not None else None

        home = await self.in_session(read)
        if home is None and await self.bind(slack_user_id):
            home = await self.in_session(read)
        if home is None:
            view = View(type="home", blocks=[SectionBlock(text=MarkdownTextObject(text=NOT_A_USER))])
        else:
            view = home_view(home, self.settings.public_url)
        await self.call("views_publish", user_id=slack_user_id, view=view.to_dict())

    async def say_privately(self, channel: str | None, slack_user_id: str, text: str) -> None:
        if channel:
            await self.call("chat_postEphemeral", channel=channel, user=slack_user_id, text=text)
        else:
            await self.call("chat_postMessage", channel=slack_user_id, text=text)
