"""The port every notification channel implements (Slack, e-mail, …): plain data in, a
reference to what was sent out. Channels live in `notifications/`; the worker's wiring hands
them to the delivery activities, which never know which ones exist."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel

from aims.persistence.models import User
from aims.persistence.queries import UseCaseRow

# What a message about a gate may offer: buttons to decide (Slack) or a link to the exact form
# (e-mail: never a one-click approve), and a link to open the use case.
Offer = Literal["decide", "open"]


class UseCaseSummary(BaseModel):
    id: str
    name: str
    status: str
    version: int
    aims_tier: str
    regulatory_category: str
    requester: str
    business_owner: str
    purpose: str
    triggered_rules: list[str]
    link: str


class GateSummary(BaseModel):
    id: str
    role: str
    kind: str
    version: int
    state: str
    due_at: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    decision: str | None = None
    comment: str | None = None
    link: str


class Recipient(BaseModel):
    email: str
    name: str
    slack_user_id: str | None = None


class Delivery(BaseModel):
    """One notice for one recipient (None: the organisation's governance channel)."""

    notice_key: str
    kind: str
    subject: str
    recipient: Recipient | None
    # What it is about (a use case, the SoA, a nonconformity, a management review): its topic
    # key, its name, and the page to open (for a gate: the decision form on the use case page).
    topic: str
    title: str
    link: str
    use_case: UseCaseSummary | None = None
    gate: GateSummary | None = None
    offers: list[Offer] = []
    # The comment, reason or description the notice quotes.
    detail: str = ""
    # The reference of the prompt a reminder belongs to, on this channel (threads, replies).
    thread_of: str | None = None


class HomeGate(BaseModel):
    use_case_id: str
    gate_id: str
    version: int
    name: str
    aims_tier: str
    label: str
    due_at: str
    stalled: bool


class HomeCase(BaseModel):
    id: str
    name: str
    status: str
    aims_tier: str
    # What it waits for now, from whom, by when: "security review gate (security, due 2026-12-09)".
    waiting_for: list[str] = []


class HomeItem(BaseModel):
    """A use case waiting for this person by a date: a re-review to answer, a sign-off to give, …"""

    use_case_id: str
    name: str
    label: str
    due_at: str


class HomeDraft(BaseModel):
    id: str
    name: str


class Home(BaseModel):
    """What waits for one person, for a channel that has a place of its own for each person
    (Slack's App Home): gates to decide, what else their use cases wait for from them, their use
    cases, re-reviews they owe, their drafts."""

    waiting: list[HomeGate] = []
    waiting_total: int = 0
    use_cases: list[HomeCase] = []
    use_cases_total: int = 0
    stages: list[HomeItem] = []  # the assessment, a revision, the sign-off, the checklist
    stages_total: int = 0
    reviews: list[HomeItem] = []
    reviews_total: int = 0
    drafts: list[HomeDraft] = []
    drafts_total: int = 0


class StalledItem(BaseModel):
    use_case_id: str
    name: str
    kind: str  # gate, triage, stage, review, soa, …
    label: str
    since: str
    due_at: str
    executive_told: bool
    link: str


class Channel(Protocol):
    """Every method may be called again for the same input (an activity retried after it had
    sent): a channel makes that send once (Slack finds its earlier post, e-mail reuses the
    Message-ID)."""

    name: str

    def deliver(self, delivery: Delivery) -> str | None:
        """Send it; the reference of what was sent (None: nothing to send, e.g. a decided gate)."""

    def finalize(self, reference: str, use_case: UseCaseSummary, gate: GateSummary) -> None:
        """A prompt's gate closed: show its outcome instead of asking (decided, or superseded)."""

    def digest(self, day: str, items: list[StalledItem]) -> str | None:
        """The daily digest of what is stalled, to the governance channel (None: not supported)."""

    def personal_digest(self, day: str, recipient: Recipient, deliveries: list[Delivery]) -> str | None:
        """One message with everything held for a person who chose a daily digest."""

    def refresh(self, recipient: Recipient, home: Home) -> None:
        """Show a person what waits for them, where the channel has a place for it (nothing
        otherwise); called after their notices went out and after gates they were asked closed."""


class PermanentDeliveryError(Exception):
    """The channel refused this for good (bad address, unknown user, missing scope): recorded on
    the delivery and not retried. Anything else raised is retried."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def recipient_of(user: User) -> Recipient:
    return Recipient(email=user.email, name=user.name, slack_user_id=user.slack_user_id)


def topic_title(topic: str) -> str:
    """The name of what a governance notice is about (its topic key)."""
    kind, _, number = topic.partition("-")
    return {"soa": "Statement of Applicability", "nc": f"Nonconformity {number}",
            "mr": f"Management review {number}"}.get(kind, topic)  # fmt: skip


def use_case_summary(row: UseCaseRow, public_url: str) -> UseCaseSummary:
    """From the register's row alone (no further queries: prompts are rewritten under load)."""
    return UseCaseSummary(
        id=row.id, name=row.name, status=row.status, version=row.version, aims_tier=row.aims_tier,
        regulatory_category=row.regulatory_category, requester=row.requester, business_owner=row.business_owner,
        purpose=((row.details or {}).get("intake") or {}).get("purpose", ""),
        triggered_rules=[rule["rule"] for rule in row.state["classification"]["triggered_rules"]],
        link=f"{public_url}/use-cases/{row.id}",
    )  # fmt: skip


def gate_summary(gate: dict[str, Any], use_case: UseCaseSummary) -> GateSummary:
    return GateSummary(
        id=gate["id"], role=gate["role"], kind=gate["kind"], version=gate["version"], state=gate["state"],
        due_at=gate.get("due_at"), decided_by=gate.get("decided_by"), decided_at=gate.get("decided_at"),
        decision=gate.get("decision"), comment=gate.get("comment"), link=f"{use_case.link}#gate-{gate['id']}",
    )  # fmt: skip
