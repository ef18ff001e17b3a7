"""management reviews (clause 9.3): each review due (the quarterly Schedule puts it on the list)
or held, its period, the report's SHA-256, and the decisions recorded (with the corrective
actions they started)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "management_reviews",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(320), nullable=True),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        sa.Column("decisions", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("management_reviews")
