"""SoA request keys: a proposal remembers the request that drafted it (its Idempotency-Key, or
the web form's submission), so sending the same proposal again answers with it instead of
being refused as a second proposal while the first waits

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("soa_proposals", sa.Column("request_key", sa.String(length=64), nullable=True))
    op.create_index("uq_soa_proposals_request_key", "soa_proposals", ["request_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_soa_proposals_request_key", table_name="soa_proposals")
    with op.batch_alter_table("soa_proposals") as batch:
        batch.drop_column("request_key")
