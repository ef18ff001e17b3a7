"""slack messages and delivery errors

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("use_case_id", sa.String(length=36), nullable=False),
        sa.Column("notice_key", sa.String(length=160), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("gate_id", sa.String(length=80), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["use_case_id"], ["use_cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("use_case_id", "notice_key", "recipient"),
    )
    op.create_index("ix_slack_messages_gate", "slack_messages", ["use_case_id", "gate_id"])
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("error")
    op.drop_index("ix_slack_messages_gate", table_name="slack_messages")
    op.drop_table("slack_messages")
