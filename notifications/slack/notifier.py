"""The Slack notifier: direct messages with decision buttons, threaded reminders, channel
escalations, and every prompt of a gate updated in place once it is decided."""

from __future__ import annotations

import datetime as dt
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from aims.persistence import models, repository
from aims.settings import Settings
from notifications.base import PermanentDeliveryError
from notifications.slack import blocks
from notifications.slack.client import call, web_client

CHANNEL_RECIPIENT = "#channel"
# Notices the governance channel also sees (stalls, escalations, overdue reviews).
BROADCAST_KINDS = frozenset({"gate_stalled", "gate_escalated", "review_overdue", "review_escalated", "rejected"})
METADATA_EVENT = "aims_notice"


class SlackNotifier:
    channel = "slack"

    def __init__(self, settings: Settings, client: WebClient | None = None):
        self.settings = settings
        self.client = client or web_client(settings)

    def deliver(self, session: Session, notification: models.Notification, to: models.User) -> None:
        use_case = repository.get_use_case(session, notification.use_case_id)
        if use_case is None:
            return
        if notification.kind == "decision" and notification.gate_id:
            self.finalize_gate(session, use_case, notification.gate_id)
        if notification.kind == "gate_request":
            # New gates open after a revision: retire the buttons of the superseded ones.
            for gate_id in repository.superseded_prompt_gates(session, use_case.id):
                self.finalize_gate(session, use_case, gate_id)
        slack_id = self.slack_id_for(session, to)
        text, message = self._message(session, use_case.state, notification, slack_id)
        if message is None:
            return
        self._post_once(session, notification, to.email, slack_id, text, message)
        if notification.kind in BROADCAST_KINDS and self.settings.slack_channel:
            channel_text, channel_blocks = blocks.notice_message(
                notification.subject, use_case.id, self.settings.public_url
            )
            self._post_once(
                session, notification, CHANNEL_RECIPIENT, self.settings.slack_channel, channel_text, channel_blocks
            )

    # ------------------------------------------------------------ people

    def slack_id_for(self, session: Session, user: models.User) -> str:
        """`aims users add --slack-id`, else `users.lookupByEmail` once, remembered on the user."""
        if user.slack_user_id:
            return user.slack_user_id
        found = call(self.client.users_lookupByEmail, email=user.email)
        user.slack_user_id = found["user"]["id"]
        session.flush()
        return user.slack_user_id

    # ------------------------------------------------------------ messages

    def _message(
        self, session: Session, state: dict[str, Any], notification: models.Notification, slack_id: str
    ) -> tuple[str, list[Any] | None]:
        public_url = self.settings.public_url
        if notification.kind == "gate_request":
            gate = next((g for g in state["gates"] if g["id"] == notification.gate_id), None)
            if gate is None or gate["state"] != "open":
                return "", None  # decided before the prompt went out: nothing to ask
            return blocks.gate_prompt(state, gate, public_url)
        detail = notification.data.get("comment") or notification.data.get("reason") or ""
        return blocks.notice_message(notification.subject, state["id"], public_url, detail)

    def _post_once(
        self,
        session: Session,
        notification: models.Notification,
        recipient: str,
        channel: str,
        text: str,
        message: list[Any],
    ) -> None:
        """Post unless it was posted already, by an earlier attempt that died before its commit."""
        if repository.slack_message(session, notification.use_case_id, notification.key, recipient):
            return
        found = self._reconcile(notification, channel) if _retrying() else None
        if found is None:
            thread_ts = self._thread_of(session, notification, recipient)
            posted = call(
                self.client.chat_postMessage,
                channel=channel,
                text=text,
                blocks=blocks.as_dicts(message),
                thread_ts=thread_ts,
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"use_case_id": notification.use_case_id, "key": notification.key},
                },
            )
            found = (posted["channel"], posted["ts"])
        session.add(
            models.SlackMessage(
                use_case_id=notification.use_case_id,
                notice_key=notification.key,
                recipient=recipient,
                kind=notification.kind,
                gate_id=notification.gate_id,
                channel=found[0],
                ts=found[1],
                created_at=_now(),
            )
        )
        session.flush()

    def _reconcile(self, notification: models.Notification, channel: str) -> tuple[str, str] | None:
        """Find a message an earlier attempt posted, by the metadata every post carries."""
        conversation = channel
        if channel.startswith(("U", "W")):
            conversation = call(self.client.conversations_open, users=channel)["channel"]["id"]
        history = call(self.client.conversations_history, channel=conversation, limit=50, include_all_metadata=True)
        for message in history.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == notification.key and payload.get("use_case_id") == notification.use_case_id:
                return conversation, message["ts"]
        return None

    def _thread_of(self, session: Session, notification: models.Notification, recipient: str) -> str | None:
        """Reminders go in the thread of the prompt they remind of, not as new messages."""
        if notification.kind != "gate_reminder" or not notification.gate_id:
            return None
        prompt = session.scalar(
            select(models.SlackMessage).where(
                models.SlackMessage.use_case_id == notification.use_case_id,
                models.SlackMessage.gate_id == notification.gate_id,
                models.SlackMessage.kind == "gate_request",
                models.SlackMessage.recipient == recipient,
            )
        )
        return prompt.ts if prompt else None

    # ------------------------------------------------------------ after a decision

    def finalize_gate(self, session: Session, use_case: models.UseCase, gate_id: str) -> None:
        """Replace the buttons of every prompt of the gate with its outcome (chat.update)."""
        gate_row = session.get(models.Gate, (use_case.id, gate_id))
        if gate_row is None:
            return
        decision = session.scalar(
            select(models.GateDecision).where(
                models.GateDecision.use_case_id == use_case.id, models.GateDecision.gate_id == gate_id
            )
        )
        gate = {
            "id": gate_id,
            "role": gate_row.role,
            "state": gate_row.state,
            "decided_by": decision.decided_by if decision else None,
            "decided_at": decision.decided_at.isoformat() if decision else None,
            "comment": decision.comment if decision else None,
        }
        text, outcome = blocks.gate_outcome(use_case.state, gate, self.settings.public_url)
        for prompt in repository.gate_prompts(session, use_case.id, gate_id):
            try:
                call(self.client.chat_update, channel=prompt.channel, ts=prompt.ts, text=text,
                     blocks=blocks.as_dicts(outcome))  # fmt: skip
            except PermanentDeliveryError:
                pass  # deleted or too old to edit: the decision stands regardless
            prompt.finalized_at = _now()


def _retrying() -> bool:
    return activity.in_activity() and activity.info().attempt > 1


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
