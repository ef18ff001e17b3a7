"""lean register: documents beside the state, waiting items, role table, chain heads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00

- `use_cases.details` holds the current documents; `use_cases.state` becomes the workflow's
  slim state (older rows keep working: the state model reads the old shape).
- `waiting_items`: everything someone must act on, for the stalled view of every kind.
- `user_roles` replaces `users.roles` (JSON), so recipients are found with one query.
- `audit_chains` stores each chain's length and head hash; `audit_events.use_case_id`
  becomes `chain_id` (no foreign key: the `system` chain has no use case).
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TRIGGERS_SQLITE = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
]


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"

    # ---------------------------------------------------------------- documents beside the state
    with op.batch_alter_table("use_cases") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))
    use_cases = sa.table("use_cases", sa.column("id", sa.String), sa.column("state", sa.JSON), sa.column("details", sa.JSON))
    for row in bind.execute(sa.select(use_cases.c.id, use_cases.c.state)).all():
        state = _json(row.state) or {}
        details = {
            "intake": state.get("intake"),
            "intake_version": state.get("version"),
            "assessment": state.get("assessment"),
            "assessment_version": state.get("assessment_version"),
            "signoff": state.get("signoff"),
        }
        bind.execute(sa.update(use_cases).where(use_cases.c.id == row.id).values(details=details))

    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))

    # ---------------------------------------------------------------- waiting items
    op.create_table(
        "waiting_items",
        sa.Column("use_case_id", sa.String(length=36), sa.ForeignKey("use_cases.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("use_case_id", "kind", "ref"),
    )
    op.create_index("ix_waiting_items_level", "waiting_items", ["escalation_level"])
    op.create_index("ix_waiting_items_role", "waiting_items", ["role"])
    gates = sa.table(
        "gates", *(sa.column(name) for name in ("use_case_id", "gate_id", "role", "kind", "state", "opened_at",
                                               "due_at", "escalation_level"))  # fmt: skip
    )
    waiting = sa.table(
        "waiting_items",
        *(sa.column(name) for name in ("use_case_id", "kind", "ref", "label", "role", "since", "due_at", "escalation_level")),
        *(sa.column(name, sa.JSON) for name in ("roles", "emails", "exclude")),
    )
    for gate in bind.execute(sa.select(gates).where(gates.c.state == "open")).all():
        if gate.opened_at is None or gate.due_at is None:
            continue
        bind.execute(
            sa.insert(waiting).values(
                use_case_id=gate.use_case_id, kind="gate", ref=gate.gate_id, label=f"{gate.role} {gate.kind} gate",
                role=gate.role, roles=[gate.role], emails=[], exclude=[], since=gate.opened_at, due_at=gate.due_at,
                escalation_level=gate.escalation_level,
            )  # fmt: skip
        )

    # ---------------------------------------------------------------- roles as a table
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("roles", sa.JSON))
    # Read first: SQLite rebuilds `users` to drop the column, which would cascade to its roles.
    held = [(user.id, sorted(set(_json(user.roles) or []))) for user in bind.execute(sa.select(users.c.id, users.c.roles))]
    with op.batch_alter_table("users") as batch:
        batch.drop_column("roles")
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "role"),
    )
    op.create_index("ix_user_roles_role", "user_roles", ["role"])
    user_roles = sa.table("user_roles", sa.column("user_id", sa.Integer), sa.column("role", sa.String))
    for user_id, roles in held:
        for role in roles:
            bind.execute(sa.insert(user_roles).values(user_id=user_id, role=role))

    # ---------------------------------------------------------------- chains and their heads
    op.create_table(
        "audit_chains",
        sa.Column("chain_id", sa.String(length=36), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain_id"),
    )
    if sqlite:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{action}")
        naming = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
        with op.batch_alter_table("audit_events", recreate="always", naming_convention=naming) as batch:
            batch.drop_constraint("fk_audit_events_use_case_id_use_cases", type_="foreignkey")
            batch.alter_column("use_case_id", new_column_name="chain_id", existing_type=sa.String(length=36))
        for statement in _TRIGGERS_SQLITE:
            op.execute(statement)
    else:
        op.drop_constraint("audit_events_use_case_id_fkey", "audit_events", type_="foreignkey")
        op.alter_column("audit_events", "use_case_id", new_column_name="chain_id")
    events = sa.table("audit_events", sa.column("chain_id"), sa.column("seq"), sa.column("hash"))
    chains = sa.table(
        "audit_chains", sa.column("chain_id"), sa.column("length"), sa.column("head_hash"), sa.column("updated_at")
    )
    last = sa.select(events.c.chain_id, sa.func.max(events.c.seq).label("length")).group_by(events.c.chain_id).subquery()
    heads = sa.select(last.c.chain_id, last.c.length, events.c.hash).join(
        events, (events.c.chain_id == last.c.chain_id) & (events.c.seq == last.c.length)
    )
    now = dt.datetime.now(dt.UTC)
    for chain_id, length, head in bind.execute(heads).all():
        bind.execute(sa.insert(chains).values(chain_id=chain_id, length=length, head_hash=head, updated_at=now))


def downgrade() -> None:
    raise NotImplementedError("0003 moves data between shapes; restore a backup to go back")
