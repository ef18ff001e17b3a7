"""nonconformities and corrective actions (clause 10.2): one row each, with every round of
action and effectiveness check

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nonconformities",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("use_case_id", sa.String(36), nullable=True),
        sa.Column("raised_by", sa.String(320), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("action_owner", sa.String(320), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_nonconformities_status", "nonconformities", ["status"])


def downgrade() -> None:
    op.drop_index("ix_nonconformities_status", table_name="nonconformities")
    op.drop_table("nonconformities")
