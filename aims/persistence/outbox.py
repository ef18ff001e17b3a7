"""The inbox and the outbox: one notification per notice and recipient, written in the
transaction of its transition, and one delivery per notification and channel to send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aims.domain.state import Notice
from aims.persistence import users
from aims.persistence.models import Delivery, Gate, Notification

# The recipient of a notice for the organisation's governance channel.
ORGANISATION = ""


def store(session: Session, use_case_id: str, notices: Sequence[Notice], now: dt.datetime, channels: Sequence[str]) -> int:
    """Write each notice to its recipients' inboxes and queue a delivery per channel; returns
    how many deliveries wait (none when no channel is configured: the inbox is the delivery)."""
    if not notices:
        return 0
    holders = users.holders_of(session, {role for notice in notices for role in notice.to_roles})
    known = users.known_emails(session, {email for notice in notices for email in notice.to_emails})
    rows = []
    for notice in notices:
        recipients = {email for role in notice.to_roles for email in holders.get(role, ())}
        recipients |= {users.normalise_email(email) for email in notice.to_emails} & known
        recipients -= set(notice.exclude)
        if notice.broadcast and channels:
            recipients.add(ORGANISATION)
        for email in sorted(recipients):
            rows.append(
                Notification(
                    use_case_id=use_case_id, key=notice.key, kind=notice.kind, recipient=email,
                    subject=notice.subject, gate_id=notice.gate_id, data=notice.data, created_at=now,
                    deliveries=[Delivery(channel=channel, created_at=now) for channel in channels],
                )  # fmt: skip
            )
    session.add_all(rows)
    return len(rows) * len(channels)


def pending(session: Session, use_case_id: str, keys: Sequence[str] | None) -> Sequence[Delivery]:
    """Deliveries still to send: of the given notice keys, or all of the use case (a sweep)."""
    query = (
        select(Delivery)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(
            Notification.use_case_id == use_case_id,
            Notification.key.in_(list(keys)) if keys is not None else True,
            Delivery.delivered_at.is_(None),
            Delivery.error.is_(None),
        )
        .order_by(Delivery.id)
    )
    return session.scalars(query).all()


def prompts_to_finalize(session: Session, use_case_id: str) -> Sequence[Delivery]:
    """Prompts sent for gates that are no longer open: they still ask, and must show the outcome."""
    query = (
        select(Delivery)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(Gate, (Gate.use_case_id == Notification.use_case_id) & (Gate.gate_id == Notification.gate_id))
        .where(
            Notification.use_case_id == use_case_id,
            Notification.kind == "gate_request",
            Delivery.reference.is_not(None),
            Delivery.finalized_at.is_(None),
            Gate.state != "open",
        )
    )
    return session.scalars(query).all()


def _prompt(use_case_id: str, gate_id: str, channel: str, reference: str) -> Select[tuple[Delivery]]:
    return (
        select(Delivery)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(
            Notification.use_case_id == use_case_id,
            Notification.gate_id == gate_id,
            Notification.kind == "gate_request",
            Delivery.channel == channel,
            Delivery.reference == reference,
        )
    )


def mark_finalized(
    session: Session, use_case_id: str, gate_id: str, channel: str, reference: str, now: dt.datetime
) -> None:
    """The prompt shows its outcome (rewritten where it was clicked): the delivery activity skips it."""
    prompt = session.scalar(_prompt(use_case_id, gate_id, channel, reference))
    if prompt is not None and prompt.finalized_at is None:
        prompt.finalized_at = now


def prompt_reference(session: Session, use_case_id: str, gate_id: str, recipient: str, channel: str) -> str | None:
    """Where a person's prompt for a gate is on a channel (a reminder goes in its thread)."""
    return session.scalar(
        select(Delivery.reference)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(
            Notification.use_case_id == use_case_id,
            Notification.gate_id == gate_id,
            Notification.kind == "gate_request",
            Notification.recipient == recipient,
            Delivery.channel == channel,
        )
    )
