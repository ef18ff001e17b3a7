"""The register and the audit trail. Only activities write process outcomes here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Every instant here is UTC. SQLite keeps no zone: values are stored in UTC and come back
    zone-aware, as they do from PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None and dialect.name == "sqlite":
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_request_key", "request_key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    # A deactivated user (a leaver) signs in nowhere, is prompted for nothing, decides nothing.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    token_expires_at: Mapped[dt.datetime | None]
    deactivated_at: Mapped[dt.datetime | None]
    # How the person likes to hear from aims: the channels they turned off (every channel the
    # organisation configures is on unless muted here; the inbox always is), and whether
    # notices wait for one daily digest instead of arriving one by one.
    muted_channels: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    daily_digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    request_key: Mapped[str | None] = mapped_column(String(64))  # the admin's form send that added them
    role_rows: Mapped[list[UserRole]] = relationship(lazy="selectin", cascade="all, delete-orphan")

    @property
    def roles(self) -> list[str]:
        return sorted(row.role for row in self.role_rows)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; only its hash is stored. Ended by
    sign-out, by a revoked or rotated token and by deactivation (all of that user's sessions)."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class UserRole(Base):
    """Who holds which role: a table, so notices find their recipients with one query."""

    __tablename__ = "user_roles"
    __table_args__ = (Index("ix_user_roles_role", "role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class UseCase(Base):
    __tablename__ = "use_cases"
    __table_args__ = (
        Index("ix_use_cases_status_tier", "status", "aims_tier"),
        Index("ix_use_cases_created_at_id", "created_at", "id"),  # the register's order
    )

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
    # The workflow's state at `transition_number` (`aims.domain.state.UseCaseState`): what the
    # rules need, so the API checks permissions with the same rules the workflow applies.
    state: Mapped[dict[str, Any]]
    # The current documents (intake, assessment, sign-off, review answer, decommission),
    # collected from the audit events by the register, never sent through the workflow twice.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
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


class WaitingItem(Base):
    """Something a person must do by a deadline (`aims.domain.deadlines.Waiting`), replaced with
    every transition: the stalled view lists those at escalation level 2 or more."""

    __tablename__ = "waiting_items"
    __table_args__ = (Index("ix_waiting_items_level", "escalation_level"), Index("ix_waiting_items_role", "role"))

    use_case_id: Mapped[str] = mapped_column(ForeignKey("use_cases.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    # The gate's role (gates and triages); `roles`/`emails` name whoever must act.
    role: Mapped[str | None] = mapped_column(String(32))
    roles: Mapped[list[Any]]
    emails: Mapped[list[Any]]
    exclude: Mapped[list[Any]]
    since: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    escalation_level: Mapped[int]


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
    # continued, revision (re-approval) or decommission.
    outcome: Mapped[str | None] = mapped_column(String(16))


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
    """The inbox: one row per notice and recipient, written with the change that caused it.
    `recipient` is an e-mail, or empty for the organisation's governance channel. `topic` is
    what it is about: a use case (its id, also in `use_case_id`), `soa`, `nc-{n}`, `mr-{n}`."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("topic", "key", "recipient", name="uq_notifications_topic_key_recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(60), index=True)
    use_case_id: Mapped[str | None] = mapped_column(ForeignKey("use_cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(Text)
    gate_id: Mapped[str | None] = mapped_column(String(80))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    # Loaded where asked for (the inbox): a delivery loads its notification, not its siblings.
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="notification")


class Delivery(Base):
    """A notification sent (or to send) on one channel: `reference` says where it went (a Slack
    channel and ts, an e-mail Message-ID), so a retry never sends it twice and a closed gate's
    prompts can be rewritten in place (`finalized_at`)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        Index("ix_deliveries_pending", "delivered_at", "error"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    # Set when the channel refused it for good (e.g. Slack `channel_not_found`); not retried.
    error: Mapped[str | None] = mapped_column(Text)
    finalized_at: Mapped[dt.datetime | None]
    # Held for the recipient's daily digest (they chose it): sent with it, then `delivered_at`.
    digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    # An inner join: PostgreSQL refuses FOR UPDATE on the nullable side of an outer one.
    notification: Mapped[Notification] = relationship(lazy="joined", innerjoin=True, back_populates="deliveries")


class IntakeDraft(Base):
    """An intake being written (web form or Slack modal), kept so its author can leave and come
    back; submitting it creates the use case and deletes the draft."""

    __tablename__ = "intake_drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The answers so far, as the intake's keys (partial, not yet valid).
    answers: Mapped[dict[str, Any]]
    step: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class SoaProposal(Base):
    """A Statement of Applicability as proposed: a draft until its workflow accepts it, then
    proposed, then approved (it gets the next `version`) or rejected. Nothing is overwritten."""

    __tablename__ = "soa_proposals"
    __table_args__ = (
        Index("ix_soa_proposals_status", "status"),
        Index("uq_soa_proposals_request_key", "request_key", unique=True),
    )

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16))  # draft, proposed, approved, rejected
    entries: Mapped[list[Any]]
    note: Mapped[str] = mapped_column(String(200))
    proposed_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime]
    proposed_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int | None] = mapped_column(unique=True)
    request_key: Mapped[str | None] = mapped_column(String(64))  # the request that drafted it (a repeat finds it)


class Nonconformity(Base):
    """A nonconformity and its corrective actions (clause 10.2). `rounds` keeps every action
    and its effectiveness check; the columns say where it stands now. A draft until its
    workflow opens it."""

    __tablename__ = "nonconformities"
    __table_args__ = (
        Index("ix_nonconformities_status", "status"),
        Index("uq_nonconformities_request_key", "request_key", unique=True),
    )

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text)
    use_case_id: Mapped[str | None] = mapped_column(String(36))
    raised_by: Mapped[str] = mapped_column(String(320))
    raised_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(24))  # draft, action_open, effectiveness_check, closed
    action_owner: Mapped[str] = mapped_column(String(320))
    due_at: Mapped[dt.datetime]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    rounds: Mapped[list[Any]]
    closed_at: Mapped[dt.datetime | None]
    request_key: Mapped[str | None] = mapped_column(String(64))  # the request that raised it (a repeat finds it)


class ManagementReview(Base):
    """A management review (clause 9.3), due (put on the list by the quarterly Schedule) or held:
    the period it looks at, the SHA-256 of the report it looked at, and its decisions; those
    with an owner became corrective actions."""

    __tablename__ = "management_reviews"
    __table_args__ = (Index("uq_management_reviews_request_key", "request_key", unique=True),)

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    period_from: Mapped[dt.datetime]
    period_to: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(8))  # due, held
    due_at: Mapped[dt.datetime | None]
    held_at: Mapped[dt.datetime | None]
    recorded_by: Mapped[str | None] = mapped_column(String(320))
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    decisions: Mapped[list[Any]]  # [{"decision", "nonconformity": number | None}]
    request_key: Mapped[str | None] = mapped_column(String(64))  # the request that recorded it (a repeat finds it)


class AuditChain(Base):
    """The head of each hash chain: a use case's, or `system` (users, roles, tokens). Stored so
    a deleted or truncated tail shows: the events must end at this length and hash."""

    __tablename__ = "audit_chains"

    chain_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    length: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime]


class AuditCheckpoint(Base):
    """Once a day: every chain's length and head hash, signed (Ed25519). An export carries them,
    so rewriting a chain consistently after a checkpoint still shows offline."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), unique=True)  # the schedule may retry: one a day
    at: Mapped[dt.datetime]
    chains: Mapped[list[Any]]  # [{"id", "length", "head_hash"}], ordered by id
    signature: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(64))


class AuditEvent(Base):
    """Append-only (a database trigger refuses UPDATE and DELETE); hashes chain per `chain_id`
    (a use case id, or `system`)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int]
    transition_number: Mapped[int]
    type: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(320))
    at: Mapped[dt.datetime]
    version: Mapped[int]
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
