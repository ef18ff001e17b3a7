"""request keys: a nonconformity raised and a management review recorded remember the request
that made them (from its Idempotency-Key, or the web form's submission), so sending the same
request again answers with them instead of making another

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = ("nonconformities", "management_reviews")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("request_key", sa.String(length=64), nullable=True))
        op.create_index(f"uq_{table}_request_key", table, ["request_key"], unique=True)


def downgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"uq_{table}_request_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_key")
