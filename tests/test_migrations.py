"""A register written by an earlier version is upgraded in place and keeps working: users keep
their roles, use cases their documents, chains verify, Slack prompts stay findable."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from aims import audit
from aims.persistence import chains, outbox, queries, users
from aims.persistence.db import engine_for, make_engine, migrate, normalise_url, transaction
from tests import domain_kit as kit

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


@pytest.fixture
def old_database(tmp_path) -> Iterator[str]:
    """A database at revision 0002 (before the lean register), in its own schema on PostgreSQL."""
    external = os.environ.get("AIMS_TEST_DATABASE_URL")
    if not external:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    schema = f"aims_upgrade_{uuid.uuid4().hex[:8]}"
    admin = make_engine(normalise_url(external))
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in external else "?"
    yield normalise_url(external) + f"{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_an_old_register_is_upgraded_and_keeps_working(old_database: str):
    migrate(old_database, "0002")
    state = kit.in_status("in_review")
    old_view = state.model_dump(mode="json")
    for key in ("conflicted", "assessed_version", "signed_off_version", "operations", "stage", "reviews_opened"):
        old_view.pop(key)
    old_view |= {"intake": {"name": state.name, "purpose": "Answers questions"}, "assessment": {"risks": []},
                 "assessment_version": 1, "signoff": None}  # fmt: skip
    case = state.id
    first = audit.event_hash(use_case_id=case, seq=1, type="intake_submitted", actor="req@example.com", at=NOW,
                             version=1, data={"intake": {}}, prev_hash=audit.GENESIS)  # fmt: skip
    with engine_for(old_database).begin() as db:
        db.execute(text("INSERT INTO users (email, name, roles, slack_user_id, token_hash, created_at) VALUES "
                        "('risk@example.com', 'Risk', :roles, 'URISK', 'h1', :now)"),
                   {"roles": json.dumps(["requester", "risk"]), "now": NOW})  # fmt: skip
        db.execute(text("INSERT INTO use_cases (id, name, status, aims_tier, regulatory_category, version, requester, "
                        "business_owner, policy_version, next_review_due, state, transition_number, created_at, "
                        "updated_at) VALUES (:id, :name, 'in_review', 'T2_MEDIUM', 'MINIMAL', 1, 'req@example.com', "
                        "'owner@example.com', '2026.1', NULL, :state, 2, :now, :now)"),
                   {"id": case, "name": state.name, "state": json.dumps(old_view), "now": NOW})  # fmt: skip
        db.execute(text("INSERT INTO gates (use_case_id, gate_id, role, kind, version, state, opened_at, due_at, "
                        "escalation_level) VALUES (:id, 'v1-review-risk', 'risk', 'review', 1, 'open', :now, :due, 2)"),
                   {"id": case, "now": NOW, "due": NOW + dt.timedelta(days=5)})  # fmt: skip
        db.execute(text("INSERT INTO audit_events (use_case_id, seq, transition_number, type, actor, at, version, "
                        "data, prev_hash, hash) VALUES (:id, 1, 1, 'intake_submitted', 'req@example.com', :now, 1, "
                        ":data, :genesis, :hash)"),
                   {"id": case, "now": NOW, "data": json.dumps({"intake": {}}), "genesis": audit.GENESIS,
                    "hash": first})  # fmt: skip
        db.execute(text("INSERT INTO notifications (use_case_id, key, kind, recipient, subject, gate_id, data, channel, "
                        "created_at, delivered_at, error) VALUES (:id, '2:gate_request:v1-review-risk', 'gate_request', "
                        "'risk@example.com', 'decide', 'v1-review-risk', '{}', 'slack', :now, :now, NULL)"),
                   {"id": case, "now": NOW})  # fmt: skip
        db.execute(text("INSERT INTO slack_messages (use_case_id, notice_key, recipient, kind, gate_id, channel, ts, "
                        "created_at, finalized_at) VALUES (:id, '2:gate_request:v1-review-risk', 'risk@example.com', "
                        "'gate_request', 'v1-review-risk', 'DURISK', '1700.1', :now, NULL)"),
                   {"id": case, "now": NOW})  # fmt: skip

    migrate(old_database)

    with transaction(old_database) as session:
        assert users.user_by_email(session, "risk@example.com").roles == ["requester", "risk"]  # type: ignore[union-attr]
        row = queries.get_use_case(session, case)
        assert row is not None and row.details["intake"]["purpose"] == "Answers questions"
        detail = queries.use_case_detail(session, row)
        assert detail["status"] == "in_review" and detail["assessment_version"] == 1
        assert queries.state_of(row).conflicted == ["owner@example.com", "req@example.com"]
        assert [item["ref"] for item in queries.stalled(session)] == ["v1-review-risk"]
        check = chains.verify(session, case)
        assert check.verified and check.length == 1 and check.head_hash == first
        assert outbox.prompt_reference(session, case, "v1-review-risk", "risk@example.com", "slack") == "DURISK:1700.1"
        with pytest.raises(Exception, match="append-only"):
            session.execute(text("DELETE FROM audit_events"))


def test_the_migrations_build_exactly_the_schema_the_models_declare(database_url: str):
    """A model changed without a migration (or the other way round) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from aims.persistence.models import Base

    with engine_for(database_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    # Server defaults are compared loosely by Alembic; everything else must match.
    assert [d for d in differences if d[0] not in ("modify_default",)] == []
