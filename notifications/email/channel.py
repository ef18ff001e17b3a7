"""The e-mail channel: every notice as HTML and plain text from Jinja2 templates. A prompt links
to the exact form on the web page (never a one-click approve: deciding needs a signed-in person).
Each message's Message-ID comes from what it is (the notice and its recipient, or the digest
and its day), so a retried send carries the same id and mail clients show it once; a reminder
replies to its prompt, so they thread."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formataddr, format_datetime, parseaddr
from typing import Any

import datetime as dt
from jinja2 import Environment, PackageLoader, select_autoescape

from activities.channels import Delivery, GateSummary, Home, Recipient, StalledItem, UseCaseSummary
from aims.domain.wording import counted
from aims.settings import SmtpSettings
from notifications.email import smtp

CHANNEL_NAME = "email"

# What the button in each kind of message says (the rest: "Open in aims").
ACTIONS = {
    "assessment_requested": "Fill in the assessment",
    "gate_request": "Open the decision form",
    "gate_reminder": "Open the decision form",
    "signoff_requested": "Sign off the deployment",
    "review_due": "Answer the re-review",
    "review_reminder": "Answer the re-review",
    "soa_proposed": "Read and decide the proposal",
    "soa_reminder": "Read and decide the proposal",
    "corrective_action_assigned": "See the corrective action",
    "action_reminder": "See what is due",
    "effectiveness_check_requested": "Check its effectiveness",
    "management_review_due": "Open the report",
}

_templates = Environment(
    loader=PackageLoader("notifications.email", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals["counted"] = counted


def one_line(text: str) -> str:
    """Header values never carry a line break (no header injection from a use case's name)."""
    return " ".join(text.split())[:250]


class EmailChannel:
    name = CHANNEL_NAME

    def __init__(self, settings: SmtpSettings, public_url: str):
        self.settings = settings
        self.public_url = public_url
        self._domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "aims"

    # ------------------------------------------------------------ a notice

    def deliver(self, delivery: Delivery) -> str | None:
        to = delivery.recipient.email if delivery.recipient else self.settings.governance
        if to is None:
            return None  # no governance list configured
        if delivery.kind == "gate_request" and (delivery.gate is None or delivery.gate.state != "open"):
            return None  # decided before the prompt went out: nothing to ask
        context = {"d": delivery, "action": ACTIONS.get(delivery.kind, "Open in aims"),
                   "name": delivery.recipient.name if delivery.recipient else "governance team"}  # fmt: skip
        message = self._message(
            to=to, name=delivery.recipient.name if delivery.recipient else None, subject=delivery.subject,
            identity=f"{delivery.topic}/{delivery.notice_key}/{to}", template="notice", context=context,
        )  # fmt: skip
        if delivery.thread_of:  # a reminder answers its prompt
            message["In-Reply-To"] = message["References"] = delivery.thread_of
        smtp.send(self.settings, message)
        return str(message["Message-ID"])

    def finalize(self, reference: str, use_case: UseCaseSummary, gate: GateSummary) -> None:
        """A sent e-mail cannot be changed: its link shows the outcome on the page."""

    def refresh(self, recipient: Recipient, home: Home) -> None:
        """E-mail has no place of its own for each person: the dashboard is that place."""

    # ------------------------------------------------------------ digests

    def digest(self, day: str, items: list[StalledItem]) -> str | None:
        if self.settings.governance is None:
            return None
        message = self._message(
            to=self.settings.governance, name=None, subject=f"aims digest {day}: {counted(len(items), 'stalled item')}",
            identity=f"stalled-digest/{day}", template="stalled", context={"day": day, "items": items[:200]},
        )  # fmt: skip
        smtp.send(self.settings, message)
        return str(message["Message-ID"])

    def personal_digest(self, day: str, recipient: Recipient, deliveries: list[Delivery]) -> str | None:
        message = self._message(
            to=recipient.email, name=recipient.name, subject=f"aims: {counted(len(deliveries), 'notice')} for you, {day}",
            identity=f"digest/{day}/{recipient.email}", template="digest",
            context={"day": day, "name": recipient.name, "deliveries": deliveries, "actions": ACTIONS},
        )  # fmt: skip
        smtp.send(self.settings, message)
        return str(message["Message-ID"])

    # ------------------------------------------------------------ the message

    def _message(
        self, *, to: str, name: str | None, subject: str, identity: str, template: str, context: dict[str, Any]
    ) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = one_line(subject)
        message["From"] = self.settings.sender
        message["To"] = formataddr((one_line(name), to)) if name else to
        message["Message-ID"] = f"<{hashlib.sha256(identity.encode()).hexdigest()[:40]}@{self._domain}>"
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to aims
        context = context | {"public_url": self.public_url, "settings_link": f"{self.public_url}/settings/notifications"}
        message.set_content(_templates.get_template(f"{template}.txt").render(context))
        message.add_alternative(_templates.get_template(f"{template}.html").render(context), subtype="html")
        return message
