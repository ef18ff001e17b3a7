"""deliveries: one row per notification and channel; Slack's message table folded in

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00

Notifications become the inbox (what, to whom); `deliveries` say how each went out on each
channel and where it is (`reference`), for every channel alike. `slack_messages` rows become
deliveries' references; its governance-channel posts become notifications to the organisation
(recipient '').
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    notifications = sa.table(
        "notifications",
        *(sa.column(c) for c in ("id", "use_case_id", "key", "kind", "recipient", "subject", "gate_id", "created_at",
                                 "channel", "delivered_at", "error")),
        sa.column("data", sa.JSON),
    )  # fmt: skip
    slack = sa.table(
        "slack_messages", *(sa.column(c) for c in ("use_case_id", "notice_key", "recipient", "kind", "gate_id", "channel",
                                                   "ts", "created_at", "finalized_at"))  # fmt: skip
    )
    # Read the old shapes first: SQLite rebuilds `notifications` below, before anything refers to it.
    old_notifications = bind.execute(sa.select(notifications)).all()
    messages = bind.execute(sa.select(slack)).all()
    op.drop_table("slack_messages")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("channel")
        batch.drop_column("delivered_at")
        batch.drop_column("error")

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id", "channel"),
    )
    op.create_index("ix_deliveries_notification_id", "deliveries", ["notification_id"])
    op.create_index("ix_deliveries_pending", "deliveries", ["delivered_at", "error"])
    inbox = sa.table(
        "notifications",
        *(sa.column(c) for c in ("id", "use_case_id", "key", "kind", "recipient", "subject", "gate_id", "created_at")),
        sa.column("data", sa.JSON),
    )
    deliveries = sa.table(
        "deliveries", *(sa.column(c) for c in ("notification_id", "channel", "reference", "created_at", "delivered_at",
                                               "error", "finalized_at"))  # fmt: skip
    )
    by_key = {(row.use_case_id, row.key, row.recipient): row for row in old_notifications}
    for row in old_notifications:
        if row.channel == "outbox" or (row.channel is None and row.delivered_at is not None):
            continue  # the inbox row was the delivery
        bind.execute(
            sa.insert(deliveries).values(
                notification_id=row.id, channel=row.channel or "slack", created_at=row.created_at,
                delivered_at=row.delivered_at, error=row.error,
            )  # fmt: skip
        )
    for message in messages:
        reference = f"{message.channel}:{message.ts}"
        if message.recipient == "#channel":  # a governance-channel post: a notification to the organisation
            source = next((n for key, n in by_key.items() if key[:2] == (message.use_case_id, message.notice_key)), None)
            inserted = bind.execute(
                sa.insert(inbox).values(
                    use_case_id=message.use_case_id, key=message.notice_key, kind=message.kind, recipient="",
                    subject=source.subject if source else message.kind, gate_id=message.gate_id,
                    data=source.data if source else {}, created_at=message.created_at,
                )  # fmt: skip
            )
            bind.execute(
                sa.insert(deliveries).values(
                    notification_id=inserted.inserted_primary_key[0], channel="slack", reference=reference,
                    created_at=message.created_at, delivered_at=message.created_at, finalized_at=message.finalized_at,
                )  # fmt: skip
            )
            continue
        notification = by_key.get((message.use_case_id, message.notice_key, message.recipient))
        if notification is not None:
            bind.execute(
                sa.update(deliveries)
                .where(deliveries.c.notification_id == notification.id, deliveries.c.channel == "slack")
                .values(reference=reference, finalized_at=message.finalized_at)
            )


def downgrade() -> None:
    raise NotImplementedError("0004 moves data between shapes; restore a backup to go back")
