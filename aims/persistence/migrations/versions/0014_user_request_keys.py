"""User request keys: a user remembers the admin's form send that added them, so the same form
sent twice (a double click) answers with the person added instead of refusing them as a user
already, which lost the token the first send made

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("request_key", sa.String(length=64), nullable=True))
    op.create_index("uq_users_request_key", "users", ["request_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_request_key", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("request_key")
