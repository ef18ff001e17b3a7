"""The register and the audit trail. Only activities write process outcomes here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(DateTime):
    """SQLite drops the zone; every instant here is UTC, so give it back on the way out."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        parent = super().result_processor(dialect, coltype)

        def process(value: Any) -> Any:
            value = parent(value) if parent else value
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value

        return process


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]]
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]


class UseCase(Base):
    __tablename__ = "use_cases"
    __table_args__ = (Index("ix_use_cases_status_tier", "status", "aims_tier"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(32))
    aims_tier: Mapped[str] = mapped_column(String(32))
    regulatory_category: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    requester: Mapped[str] = mapped_column(String(320), index=True)
    business_owner: Mapped[str] = mapped_column(String(320), index=True)
    policy_version: Mapped[str] = mapped_column(String(64))
    next_review_due: Mapped[dt.datetime | None]
    # The workflow's read model at `transition_number`: what GET /api/use-cases/{id} returns.
    state: Mapped[dict[str, Any]]
    transition_number: Mapped[int]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class IntakeVersion(Base):
    __tablename__ = "intake_versions"

    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    intake: Mapped[dict[str, Any]]
    classification: Mapped[dict[str, Any]]
    submitted_by: Mapped[str] = mapped_column(String(320))
    submitted_at: Mapped[dt.datetime]


class Assessment(Base):
    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("use_case_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"))
    version: Mapped[int]
    content: Mapped[dict[str, Any]]
    submitted_by: Mapped[str] = mapped_column(String(320))
    submitted_at: Mapped[dt.datetime]


class Gate(Base):
    """Current projection of every gate ever opened; decisions are in `gate_decisions`."""

    __tablename__ = "gates"
    __table_args__ = (Index("ix_gates_state_role", "state", "role"),)

    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"), primary_key=True)
    gate_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    state: Mapped[str] = mapped_column(String(24))
    opened_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)


class GateDecision(Base):
    __tablename__ = "gate_decisions"
    __table_args__ = (UniqueConstraint("use_case_id", "gate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"))
    gate_id: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    decision: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime]


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("use_case_id", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"))
    number: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    answer: Mapped[dict[str, Any] | None]
    answered_by: Mapped[str | None] = mapped_column(String(320))
    completed_at: Mapped[dt.datetime | None]


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("use_case_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"))
    number: Mapped[int]
    severity: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime | None]
    reported_by: Mapped[str] = mapped_column(String(320))
    reported_at: Mapped[dt.datetime]


class Notification(Base):
    """The outbox: one row per notice and recipient, written with the transition that caused
    it; `delivered_at` and `channel` are set once a notifier has sent it."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("use_case_id", "key", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(Text)
    gate_id: Mapped[str | None] = mapped_column(String(80))
    data: Mapped[dict[str, Any]]
    channel: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    # Set when the channel refused it for good (e.g. Slack `channel_not_found`); not retried.
    error: Mapped[str | None] = mapped_column(Text)


class SlackMessage(Base):
    """A message posted to Slack for a notice: where it is (`channel`, `ts`), so a retry never
    posts it twice and a decision can update every prompt of its gate in place."""

    __tablename__ = "slack_messages"
    __table_args__ = (
        UniqueConstraint("use_case_id", "notice_key", "recipient"),
        Index("ix_slack_messages_gate", "use_case_id", "gate_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"))
    notice_key: Mapped[str] = mapped_column(String(160))
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(32))
    gate_id: Mapped[str | None] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    finalized_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Append-only (a database trigger refuses UPDATE and DELETE); hashes chain per use case."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("use_case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"))
    seq: Mapped[int]
    transition_number: Mapped[int]
    type: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(320))
    at: Mapped[dt.datetime]
    version: Mapped[int]
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
