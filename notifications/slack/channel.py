"""The Slack channel: direct messages with decision buttons, reminders in the prompt's thread,
the governance channel for stalls and escalations, prompts rewritten with their outcome, and
the daily digest. Plain data in (`activities.channels`), a "channel:ts" reference out."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from temporalio import activity

from activities.channels import Delivery, GateSummary, Home, Recipient, StalledItem, UseCaseSummary
from aims.domain.wording import counted
from aims.settings import Settings
from notifications.slack import blocks
from notifications.slack.client import call, web_client
from notifications.slack.home import home_view

# Every post carries its notice key, so a retried delivery finds what an earlier attempt posted.
NOTICE_EVENT = "aims_notice"
DIGEST_EVENT = "aims_digest"
CHANNEL_NAME = "slack"


def reference(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def parse_reference(value: str) -> tuple[str, str]:
    channel, _, ts = value.partition(":")
    return channel, ts


class SlackChannel:
    name = CHANNEL_NAME

    def __init__(self, settings: Settings, client: WebClient | None = None):
        self.settings = settings
        self.client = client or web_client(settings)
        self._slack_ids: dict[str, str] = {}

    # ------------------------------------------------------------ a notice

    def deliver(self, delivery: Delivery) -> str | None:
        where = self._where(delivery)
        if where is None:
            return None  # the organisation has no governance channel configured
        if delivery.kind == "gate_request":
            if delivery.use_case is None or delivery.gate is None or delivery.gate.state != "open":
                return None  # decided before the prompt went out: nothing to ask
            text, message = blocks.gate_prompt(delivery.use_case, delivery.gate)
        else:
            text, message = blocks.notice_message(delivery.subject, delivery.link, delivery.detail)
        # `use_case_id` names the topic (the name kept from when every notice was about a use case).
        metadata = {"event_type": NOTICE_EVENT, "event_payload": {"use_case_id": delivery.topic,
                                                                   "key": delivery.notice_key}}  # fmt: skip
        found = self._posted_earlier(where, metadata["event_payload"]) if _retrying() else None
        if found is not None:
            return found
        posted = call(
            self.client.chat_postMessage,
            channel=where,
            text=text,
            blocks=blocks.as_dicts(message),
            thread_ts=parse_reference(delivery.thread_of)[1] if delivery.thread_of else None,
            metadata=metadata,
        )
        return reference(posted["channel"], posted["ts"])

    def _where(self, delivery: Delivery) -> str | None:
        if delivery.recipient is None:
            return self.settings.slack_channel
        return self._where_person(delivery.recipient)

    def _where_person(self, recipient: Recipient) -> str:
        if recipient.slack_user_id:
            return recipient.slack_user_id
        email = recipient.email
        if email not in self._slack_ids:  # `aims users add --slack-id`, else looked up once per process
            self._slack_ids[email] = call(self.client.users_lookupByEmail, email=email)["user"]["id"]
        return self._slack_ids[email]

    def _posted_earlier(self, where: str, payload: dict[str, str]) -> str | None:
        """What an earlier attempt posted before it died (found by the metadata every post carries)."""
        conversation = where
        if where.startswith(("U", "W")):
            conversation = call(self.client.conversations_open, users=where)["channel"]["id"]
        history = call(self.client.conversations_history, channel=conversation, limit=50, include_all_metadata=True)
        for message in history.get("messages", []):
            found = (message.get("metadata") or {}).get("event_payload") or {}
            if found.get("key") == payload["key"] and found.get("use_case_id") == payload["use_case_id"]:
                return reference(conversation, message["ts"])
        return None

    # ------------------------------------------------------------ a closed gate

    def finalize(self, reference_: str, use_case: UseCaseSummary, gate: GateSummary) -> None:
        """The prompt's buttons give way to the outcome: who decided what, and when."""
        channel, ts = parse_reference(reference_)
        text, outcome = blocks.gate_outcome(use_case, gate)
        call(self.client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks.as_dicts(outcome))

    # ------------------------------------------------------------ the App Home

    def refresh(self, recipient: Recipient, home: Home) -> None:
        view = home_view(home, self.settings.public_url)
        call(self.client.views_publish, user_id=self._where_person(recipient), view=view.to_dict())

    # ------------------------------------------------------------ the daily digest

    def digest(self, day: str, items: list[StalledItem]) -> str | None:
        channel = self.settings.slack_channel
        if not channel:
            return None
        if (posted := self._digest_of(channel, day)) is not None:
            return posted  # a retried attempt, or a second trigger the same day
        gates = sum(1 for item in items if item.kind in ("gate", "triage"))
        of_them = "1 of them a gate" if gates == 1 else f"{gates} of them gates"
        title = f"aims digest {day}: {counted(len(items), 'stalled item')}, {of_them}"
        lines = [
            f"• *{blocks.escape(item.name)}*: {blocks.escape(item.label)} waiting since {item.since[:10]}, due "
            f"{item.due_at[:10]} ({'executive told' if item.executive_told else 'stalled'}) <{item.link}|open>"
            for item in items
        ]
        body = "\n".join(lines[:40]) or "Nothing is stalled or overdue. 🎉"
        message = [blocks.SectionBlock(text=blocks.MarkdownTextObject(text=f"*{title}*\n{body}"))]
        posted = call(
            self.client.chat_postMessage, channel=channel, text=title, blocks=blocks.as_dicts(message),
            metadata={"event_type": DIGEST_EVENT, "event_payload": {"day": day}},
        )  # fmt: skip
        return reference(posted["channel"], posted["ts"])

    def personal_digest(self, day: str, recipient: Recipient, deliveries: list[Delivery]) -> str | None:
        """One direct message with everything held for someone who chose a daily digest."""
        where = self._where_person(recipient)
        if _retrying():  # an earlier attempt may have posted it before it died
            conversation = call(self.client.conversations_open, users=where)["channel"]["id"]
            if (posted := self._digest_of(conversation, day, recipient.email)) is not None:
                return posted
        title = f"Your aims digest, {day}: {counted(len(deliveries), 'notice')}"
        lines = [f"• {blocks.escape(d.subject)} <{d.link}|open>" for d in deliveries[:40]]
        if len(deliveries) > 40:
            lines.append(f"… and {len(deliveries) - 40} more in aims")
        message = [blocks.SectionBlock(text=blocks.MarkdownTextObject(text=f"*{title}*\n" + "\n".join(lines)))]
        posted = call(
            self.client.chat_postMessage, channel=where, text=title, blocks=blocks.as_dicts(message),
            metadata={"event_type": DIGEST_EVENT, "event_payload": {"day": day, "for": recipient.email}},
        )  # fmt: skip
        return reference(posted["channel"], posted["ts"])

    def _digest_of(self, channel: str, day: str, person: str | None = None) -> str | None:
        history: Any = call(self.client.conversations_history, channel=channel, limit=50, include_all_metadata=True)
        for message in history.get("messages", []):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload", {})
            if metadata.get("event_type") == DIGEST_EVENT and payload.get("day") == day and payload.get("for") == person:
                return reference(channel, message["ts"])
        return None


def _retrying() -> bool:
    return activity.in_activity() and activity.info().attempt > 1
