"""The daily digest: what is stuck, posted once a day to the governance channel."""

from __future__ import annotations

from temporalio import activity

from aims.domain.messages import DIGEST_ACTIVITY
from aims.persistence import repository
from aims.persistence.db import transaction
from aims.settings import Settings
from notifications.slack import blocks
from notifications.slack.client import call, web_client

DIGEST_EVENT = "aims_digest"


class DigestActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = web_client(settings)

    @activity.defn(name=DIGEST_ACTIVITY)
    def post_digest(self, day: str) -> int:
        channel = self.settings.slack_channel
        if not channel:
            return 0
        with transaction(self.settings.database_url) as session:
            gates = repository.open_gates(session, stalled_only=True)
            reviews = repository.overdue_reviews(session)
            lines = [
                f"• *{blocks.escape(use_case.name)}*: {gate.role} {gate.kind} gate open since "
                f"{gate.opened_at:%Y-%m-%d} ({'executive told' if gate.escalation_level >= 3 else 'stalled'}) "
                f"<{self.settings.public_url}/use-cases/{use_case.id}|open>"
                for gate, use_case in gates
            ] + [
                f"• *{blocks.escape(row.name)}*: re-review due {row.state['review']['due_at'][:10]}, "
                f"owner {blocks.escape(row.business_owner)} <{self.settings.public_url}/use-cases/{row.id}|open>"
                for row in reviews
            ]
        if self._already_posted(channel, day):
            return len(lines)
        title = f"aims digest {day}: {len(gates)} stalled gate(s), {len(reviews)} overdue re-review(s)"
        body = "\n".join(lines[:40]) or "Nothing is stalled or overdue. 🎉"
        message = [blocks.SectionBlock(text=blocks.MarkdownTextObject(text=f"*{title}*\n{body}"))]
        call(
            self.client.chat_postMessage,
            channel=channel,
            text=title,
            blocks=blocks.as_dicts(message),
            metadata={"event_type": DIGEST_EVENT, "event_payload": {"day": day}},
        )
        return len(lines)

    def _already_posted(self, channel: str, day: str) -> bool:
        """A retried attempt (or a second trigger the same day) finds the day's digest and stops."""
        history = call(self.client.conversations_history, channel=channel, limit=50, include_all_metadata=True)
        return any(
            (m.get("metadata") or {}).get("event_type") == DIGEST_EVENT
            and m["metadata"].get("event_payload", {}).get("day") == day
            for m in history.get("messages", [])
        )
