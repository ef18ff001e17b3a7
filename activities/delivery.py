"""Handing queued notifications to the channels, once each, and rewriting the prompts of gates
that closed (a regular, retried activity: it talks to the outside)."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session
from temporalio import activity

from activities.channels import (
    Channel,
    Delivery,
    PermanentDeliveryError,
    Recipient,
    UseCaseSummary,
    gate_summary,
    topic_title,
    recipient_of,
    use_case_summary,
)
from activities.definition import defn
from activities.foreground import Foreground
from activities.home import home_of
from aims.domain.messages import DELIVER_ACTIVITY, DeliverRequest
from aims.persistence import outbox, queries, users
from aims.persistence.db import transaction
from aims.persistence.models import Delivery as DeliveryRow

log = logging.getLogger(__name__)
HOME_REFRESH_SECONDS = 1.0

# What each kind of notice may offer; the rest are for information.
OFFERS = {"gate_request": ["decide", "open"], "gate_reminder": ["decide", "open"]}


class DeliveryActivities:
    def __init__(
        self, database_url: str, channels: Sequence[Channel], public_url: str, foreground: Foreground
    ):
        self.database_url = database_url
        self.channels = {channel.name: channel for channel in channels}
        self.public_url = public_url
        # Nobody waits on a delivery: register writes (someone waits on each) go first.
        self.foreground = foreground
        # A person's Home is shown again once for a burst of their notices, not once each.
        self._homes = Coalesced(HOME_REFRESH_SECONDS, self._refresh)

    @defn(name=DELIVER_ACTIVITY)
    def deliver_notices(self, request: DeliverRequest) -> int:
        """Send each pending delivery of the request, then finalise prompts of closed gates, then
        show the people concerned what waits for them now (where a channel has a place for it)."""
        self.foreground.wait_for_quiet()
        with transaction(self.database_url) as session:
            rows = outbox.pending(session, request.about, request.notice_keys)
            context = Deliveries(session, self.public_url)
            work = [(row.id, row.channel, context.delivery(row)) for row in rows]
        sent, concerned = 0, set()
        for row_id, channel, delivery in work:
            if self._deliver(row_id, delivery):
                sent += 1
                if delivery is not None and delivery.recipient is not None:
                    concerned.add((channel, delivery.recipient.email))
        if request.use_case_id:
            concerned |= self._finalize(request.use_case_id)
        for key in concerned:
            self._homes.request(key)
        return sent

    def _refresh(self, key: tuple[str, str]) -> None:
        """Best effort: a Home that could not be refreshed is refreshed when it is next opened."""
        self.foreground.wait_for_quiet()
        channel_name, email = key
        channel = self.channels.get(channel_name)
        try:
            with transaction(self.database_url) as session:
                user = users.active_user_by_email(session, email)
                if channel is None or user is None:
                    return
                recipient, home = recipient_of(user), home_of(session, user)
            channel.refresh(recipient, home)
        except Exception as error:  # noqa: BLE001 - the deliveries are done; this is a courtesy
            log.info("%s could not show %s what waits for them: %s", channel_name, email, error)

    def _deliver(self, row_id: int, delivery: Delivery | None) -> bool:
        # One transaction per delivery: a failure later on keeps what was already sent.
        with transaction(self.database_url) as session:
            row = session.get(DeliveryRow, row_id, with_for_update=True)
            if row is None or row.delivered_at is not None or row.error is not None:
                return False
            channel = self.channels.get(row.channel)
            if channel is None:
                row.error = f"channel {row.channel} is not configured"
                return False
            try:
                row.reference = channel.deliver(delivery) if delivery is not None else None
            except PermanentDeliveryError as error:
                activity.logger.warning("%s refused %s to %s: %s", row.channel, delivery and delivery.kind,
                                        row.notification.recipient or "the organisation", error.code)  # fmt: skip
                row.error = error.code
                return False
            row.delivered_at = dt.datetime.now(dt.UTC)
            return True

    def _finalize(self, use_case_id: str) -> set[tuple[str, str]]:
        """The explicit hook: every prompt still asking about a gate that closed shows the outcome.
        Returns who was asked, on which channel."""
        with transaction(self.database_url) as session:
            prompts = [(row.id, row.channel, row.notification.recipient)
                       for row in outbox.prompts_to_finalize(session, use_case_id)]  # fmt: skip
        for row_id, _, _ in prompts:
            with transaction(self.database_url) as session:
                row = session.get(DeliveryRow, row_id, with_for_update=True)
                channel = self.channels.get(row.channel) if row is not None else None
                if row is None or row.finalized_at is not None or row.reference is None or channel is None:
                    continue
                use_case = queries.use_case_row(session, use_case_id)
                gate = queries.gate_with_decision(session, use_case_id, row.notification.gate_id or "")
                if use_case is None or gate is None:
                    continue
                summary = use_case_summary(use_case, self.public_url)
                try:
                    channel.finalize(row.reference, summary, gate_summary(gate, summary))
                except PermanentDeliveryError as error:
                    activity.logger.info("prompt %s could not be finalised: %s", row.reference, error.code)
                row.finalized_at = dt.datetime.now(dt.UTC)
        return {(channel, recipient) for _, channel, recipient in prompts if recipient != outbox.ORGANISATION}


class Coalesced:
    """Runs `work(key)` once, `delay` seconds after the first request for that key; requests in
    between join it (the work reads the state when it runs, so it shows all of them)."""

    def __init__(self, delay: float, work: Callable[[tuple[str, str]], None]):
        self.delay = delay
        self.work = work
        self._due: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def request(self, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._due:
                return
            self._due.add(key)
        # In the context of the first request: its trace shows the refresh it caused.
        timer = threading.Timer(self.delay, contextvars.copy_context().run, [self._run, key])
        timer.daemon = True
        timer.start()

    def _run(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._due.discard(key)
        self.work(key)


class Deliveries:
    """Turns delivery rows into the plain data channels receive, reading what they share once:
    the use cases, their gates, the people."""

    def __init__(self, session: Session, public_url: str):
        self.session = session
        self.public_url = public_url
        self._use_cases: dict[str, UseCaseSummary | None] = {}
        self._gates: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._people: dict[str, Recipient | None] = {}

    def delivery(self, row: DeliveryRow) -> Delivery | None:
        notification = row.notification
        recipient = None
        if notification.recipient != outbox.ORGANISATION:
            recipient = self.person(notification.recipient)
            if recipient is None:
                return None
        data = notification.data or {}
        common: dict[str, Any] = {
            "notice_key": notification.key, "kind": notification.kind, "subject": notification.subject,
            "recipient": recipient, "topic": notification.topic,
            "offers": OFFERS.get(notification.kind, ["open"]),
            "detail": str(data.get("detail") or data.get("comment") or data.get("reason") or data.get("description") or ""),
        }  # fmt: skip
        if notification.use_case_id is None:
            return Delivery(title=topic_title(notification.topic), link=f"{self.public_url}{data.get('path', '/')}",
                            **common)  # fmt: skip
        summary = self._use_case(notification.use_case_id)
        if summary is None:
            return None
        gate = self._gate(notification.use_case_id, notification.gate_id) if notification.gate_id else None
        gate_data = gate_summary(gate, summary) if gate else None
        thread = None
        if notification.kind == "gate_reminder" and notification.gate_id and recipient is not None:
            thread = outbox.prompt_reference(self.session, notification.use_case_id, notification.gate_id,
                                             recipient.email, row.channel)  # fmt: skip
        return Delivery(
            title=summary.name, link=gate_data.link if gate_data else summary.link, use_case=summary, gate=gate_data,
            thread_of=thread, **common,
        )  # fmt: skip

    def _use_case(self, use_case_id: str) -> UseCaseSummary | None:
        if use_case_id not in self._use_cases:
            row = queries.use_case_row(self.session, use_case_id)
            self._use_cases[use_case_id] = use_case_summary(row, self.public_url) if row is not None else None
        return self._use_cases[use_case_id]

    def _gate(self, use_case_id: str, gate_id: str) -> dict[str, Any] | None:
        if (use_case_id, gate_id) not in self._gates:
            self._gates[(use_case_id, gate_id)] = queries.gate_with_decision(self.session, use_case_id, gate_id)
        return self._gates[(use_case_id, gate_id)]

    def person(self, email: str) -> Recipient | None:
        if email not in self._people:
            user = users.user_by_email(self.session, email)
            self._people[email] = recipient_of(user) if user else None
        return self._people[email]
