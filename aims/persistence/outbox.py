"""The inbox and the outbox: one notification per notice and recipient, written in the
transaction of the change that caused it, and one delivery per notification and channel the
recipient listens on (held for their daily digest if they chose one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.orm import Session

from aims.domain.state import Notice
from aims.persistence import users
from aims.persistence.models import Delivery, Gate, Notification

# The recipient of a notice for the organisation's governance channel.
ORGANISATION = ""


_NOTIFICATIONS, _DELIVERIES = Notification.__table__, Delivery.__table__
_ADD_NOTIFICATIONS = insert(_NOTIFICATIONS)
_ADD_NOTIFICATIONS_WITH_IDS = _ADD_NOTIFICATIONS.returning(_NOTIFICATIONS.c.id, sort_by_parameter_order=True)
_ADD_DELIVERIES = insert(_DELIVERIES)


def store(
    session: Session, topic: str, notices: Sequence[Notice], now: dt.datetime, channels: Sequence[str],
    *, use_case_id: str | None = None,
) -> int:  # fmt: skip
    """Write each notice to its recipients' inboxes and queue a delivery on every channel each
    recipient listens on; returns how many deliveries wait to be sent now (held ones and the
    inbox, when no channel is configured, wait for nobody)."""
    if not notices:
        return 0
    audience = users.audience(
        session, {role for notice in notices for role in notice.to_roles},
        {email for notice in notices for email in notice.to_emails},
    )  # fmt: skip
    holders, listening = audience.holders, audience.listening
    notifications, channels_of = [], []
    for notice in notices:
        recipients = {email for role in notice.to_roles for email in holders.get(role, ())}
        recipients |= {users.normalise_email(email) for email in notice.to_emails}
        recipients = (recipients & listening.keys()) - set(notice.exclude)
        if notice.broadcast and channels:
            recipients.add(ORGANISATION)
        for email in sorted(recipients):
            person = listening.get(email)
            notifications.append({
                "topic": topic, "use_case_id": use_case_id, "key": notice.key, "kind": notice.kind,
                "recipient": email, "subject": notice.subject, "gate_id": notice.gate_id, "data": notice.data,
                "created_at": now,
            })  # fmt: skip
            channels_of.append((
                [channel for channel in channels if person is None or channel not in person.muted],
                bool(person and person.daily_digest),
            ))  # fmt: skip
    if not notifications:
        return 0
    # Plain statements, not ORM objects: most transitions notify someone.
    connection = session.connection()
    if not channels:  # the inbox is the delivery
        connection.execute(_ADD_NOTIFICATIONS, notifications)
        return 0
    ids = connection.execute(_ADD_NOTIFICATIONS_WITH_IDS, notifications).scalars()
    deliveries = [
        {"notification_id": notification_id, "channel": channel, "created_at": now, "digest": digest}
        for notification_id, (listened, digest) in zip(ids, channels_of, strict=True)
        for channel in listened
    ]
    if deliveries:
        connection.execute(_ADD_DELIVERIES, deliveries)
    return sum(not delivery["digest"] for delivery in deliveries)


def _unsent() -> Select[tuple[Delivery]]:
    return (
        select(Delivery)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.delivered_at.is_(None), Delivery.error.is_(None))
    )


def pending(session: Session, topic: str, keys: Sequence[str] | None) -> Sequence[Delivery]:
    """Deliveries to send now: of the given notice keys, or all of the topic (a sweep); not
    those held for a digest."""
    query = _unsent().where(Notification.topic == topic, Delivery.digest.is_(False))
    if keys is not None:
        query = query.where(Notification.key.in_(list(keys)))
    return session.scalars(query.order_by(Delivery.id)).all()


def held_for_digests(session: Session) -> Sequence[Delivery]:
    """Every delivery waiting for its recipient's daily digest, oldest first."""
    return session.scalars(_unsent().where(Delivery.digest.is_(True)).order_by(Delivery.id)).all()


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


# Every click on a Slack prompt ends with one: a Core statement, built once.
_FINALIZE_PROMPT = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.channel == bindparam("b_channel"),
        _DELIVERIES.c.reference == bindparam("b_reference"),
        _DELIVERIES.c.finalized_at.is_(None),
        _DELIVERIES.c.notification_id.in_(
            select(_NOTIFICATIONS.c.id).where(
                _NOTIFICATIONS.c.use_case_id == bindparam("use_case_id"),
                _NOTIFICATIONS.c.gate_id == bindparam("gate_id"),
                _NOTIFICATIONS.c.kind == "gate_request",
            )
        ),
    )
    .values(finalized_at=bindparam("now"))
)


def mark_finalized(
    session: Session, use_case_id: str, gate_id: str, channel: str, reference: str, now: dt.datetime
) -> None:
    """The prompt shows its outcome (rewritten where it was clicked): the delivery activity skips it."""
    session.connection().execute(
        _FINALIZE_PROMPT,
        {"b_channel": channel, "b_reference": reference, "use_case_id": use_case_id, "gate_id": gate_id, "now": now},
    )


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
