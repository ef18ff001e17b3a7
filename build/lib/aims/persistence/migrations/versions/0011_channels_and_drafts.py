"""channels as plugins and drafts: how each person likes to hear from aims (muted channels, a
daily digest), notices about more than use cases (`topic`: the SoA, a nonconformity, a
management review), deliveries held for a digest, and intake drafts kept server-side

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# SQLite's copy of the table needs a name for the unnamed unique constraint it reflects.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("muted_channels", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("daily_digest", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.add_column("notifications", sa.Column("topic", sa.String(length=60), nullable=True))
    op.execute("UPDATE notifications SET topic = use_case_id")
    sqlite = op.get_bind().dialect.name == "sqlite"
    old_unique = "uq_notifications_use_case_id" if sqlite else "notifications_use_case_id_key_recipient_key"
    with op.batch_alter_table("notifications", naming_convention=_NAMING, recreate="always" if sqlite else "auto") as batch:
        batch.drop_constraint(old_unique, type_="unique")
        batch.alter_column("topic", existing_type=sa.String(length=60), nullable=False)
        batch.alter_column("use_case_id", existing_type=sa.String(length=36), nullable=True)
        batch.create_unique_constraint("uq_notifications_topic_key_recipient", ["topic", "key", "recipient"])
    op.create_index("ix_notifications_topic", "notifications", ["topic"])

    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("digest", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        "intake_drafts",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intake_drafts_owner", "intake_drafts", ["owner"])


def downgrade() -> None:
    raise NotImplementedError("0011 widens notifications to every topic; restore a backup to go back")
