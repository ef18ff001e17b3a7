"""Every query of the register lives here; callers own the transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aims import audit
from aims.domain.lifecycle import Notice, Transition
from aims.persistence import models

# ---------------------------------------------------------------- users


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    session: Session, *, email: str, name: str, roles: Sequence[str], slack_user_id: str | None, now: dt.datetime
) -> tuple[models.User, str]:
    """Create a user; returns it with its API token, which is stored only as a hash."""
    user = models.User(
        email=email.strip().lower(),
        name=name.strip(),
        roles=sorted(set(roles) | {"requester"}),
        slack_user_id=slack_user_id,
        created_at=now,
    )
    token = issue_token(user)
    session.add(user)
    session.flush()
    return user, token


def issue_token(user: models.User) -> str:
    """Give the user a new API token (the old one stops working); only its hash is kept."""
    token = "aims_" + secrets.token_urlsafe(32)
    user.token_hash = hash_token(token)
    return token


def user_by_token(session: Session, token: str) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.token_hash == hash_token(token)))


def user_by_email(session: Session, email: str) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.email == email.strip().lower()))


def list_users(session: Session) -> Sequence[models.User]:
    return session.scalars(select(models.User).order_by(models.User.email)).all()


def users_with_roles(session: Session, roles: Sequence[str]) -> list[models.User]:
    wanted = set(roles)
    return [user for user in list_users(session) if wanted & set(user.roles)]


# ---------------------------------------------------------------- use cases


def get_use_case(session: Session, use_case_id: str) -> models.UseCase | None:
    return session.get(models.UseCase, use_case_id)


def list_use_cases(
    session: Session,
    *,
    status: str | None = None,
    aims_tier: str | None = None,
    category: str | None = None,
    owner: str | None = None,
    involving: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, Sequence[models.UseCase]]:
    query = select(models.UseCase)
    if status:
        query = query.where(models.UseCase.status == status)
    if aims_tier:
        query = query.where(models.UseCase.aims_tier == aims_tier)
    if category:
        query = query.where(models.UseCase.regulatory_category == category)
    if owner:
        query = query.where(models.UseCase.business_owner == owner.strip().lower())
    if involving:
        person = involving.strip().lower()
        query = query.where(or_(models.UseCase.requester == person, models.UseCase.business_owner == person))
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(func.lower(models.UseCase.name).like(pattern), func.lower(models.UseCase.business_owner).like(pattern))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(models.UseCase.created_at.desc()).limit(limit).offset(offset)).all()
    return total, rows


def open_gates(session: Session, *, roles: Sequence[str] | None = None, stalled_only: bool = False) -> list[Any]:
    """Open gates with their use case, oldest first; optionally only stalled ones."""
    query = (
        select(models.Gate, models.UseCase)
        .join(models.UseCase, models.UseCase.id == models.Gate.use_case_id)
        .where(models.Gate.state == "open")
        .order_by(models.Gate.opened_at)
    )
    if roles is not None:
        query = query.where(models.Gate.role.in_(list(roles)))
    if stalled_only:
        query = query.where(models.Gate.escalation_level >= 2)
    return list(session.execute(query).all())


def reminders_sent(session: Session, use_case_id: str, gate_id: str) -> int:
    """How many reminders a gate has had (a reminder goes to several people: count notices)."""
    query = select(func.count(func.distinct(models.Notification.key))).where(
        models.Notification.use_case_id == use_case_id,
        models.Notification.gate_id == gate_id,
        models.Notification.kind == "gate_reminder",
    )
    return session.scalar(query) or 0


def overdue_reviews(session: Session) -> list[models.UseCase]:
    rows = session.scalars(select(models.UseCase).where(models.UseCase.status.in_(["under_review", "suspended"])))
    return [row for row in rows if (row.state.get("review") or {}).get("overdue_level", 0) > 0]


def audit_events(session: Session, use_case_id: str) -> Sequence[models.AuditEvent]:
    query = select(models.AuditEvent).where(models.AuditEvent.use_case_id == use_case_id)
    return session.scalars(query.order_by(models.AuditEvent.seq)).all()


def notifications_for(
    session: Session, recipient: str | None, *, use_case_id: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[models.Notification]:
    query = select(models.Notification)
    if recipient is not None:
        query = query.where(models.Notification.recipient == recipient)
    if use_case_id:
        query = query.where(models.Notification.use_case_id == use_case_id)
    return session.scalars(query.order_by(models.Notification.id.desc()).limit(limit).offset(offset)).all()


# ---------------------------------------------------------------- recording a transition


def record_transition(session: Session, view: dict[str, Any], transition: Transition, now: dt.datetime) -> bool:
    """Write one lifecycle transition: projection, history tables and audit events.

    Idempotent: a transition at or below the stored watermark was written already (an
    activity retried after its commit), so nothing is written twice. Returns whether it wrote.
    """
    use_case = session.get(models.UseCase, transition.use_case_id, with_for_update=True)
    if use_case is not None and use_case.transition_number >= transition.number:
        return False
    if use_case is None:
        use_case = models.UseCase(id=transition.use_case_id, created_at=now)
        session.add(use_case)
    classification = view["classification"]
    use_case.name = view["name"]
    use_case.status = view["status"]
    use_case.aims_tier = classification["aims_tier"]
    use_case.regulatory_category = classification["regulatory_category"]
    use_case.version = view["version"]
    use_case.requester = view["requester"]
    use_case.business_owner = view["business_owner"]
    use_case.policy_version = classification["rubric_version"]
    use_case.next_review_due = dt.datetime.fromisoformat(view["next_review_due"]) if view["next_review_due"] else None
    use_case.state = view
    use_case.transition_number = transition.number
    use_case.updated_at = now
    session.flush()

    _project_gates(session, view)
    last = session.scalar(
        select(models.AuditEvent)
        .where(models.AuditEvent.use_case_id == use_case.id)
        .order_by(models.AuditEvent.seq.desc())
        .limit(1)
    )
    seq, prev_hash = (last.seq, last.hash) if last else (0, audit.GENESIS)
    for event in transition.events:
        seq += 1
        data = event.model_dump(mode="json")["data"]
        digest = audit.event_hash(
            use_case_id=use_case.id,
            seq=seq,
            type=event.type,
            actor=event.actor,
            at=event.at,
            version=event.version,
            data=data,
            prev_hash=prev_hash,
        )
        session.add(
            models.AuditEvent(
                use_case_id=use_case.id,
                seq=seq,
                transition_number=transition.number,
                type=event.type,
                actor=event.actor,
                at=event.at,
                version=event.version,
                data=data,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        prev_hash = digest
        _project_event(session, use_case, event.type, event.actor, event.at, event.version, data, view)
    _store_notices(session, use_case.id, transition.notices, now)
    return True


def _project_gates(session: Session, view: dict[str, Any]) -> None:
    for gate in view["gates"]:
        row = session.get(models.Gate, (view["id"], gate["id"]))
        if row is None:
            row = models.Gate(use_case_id=view["id"], gate_id=gate["id"])
            session.add(row)
        row.role, row.kind, row.version, row.state = gate["role"], gate["kind"], gate["version"], gate["state"]
        row.opened_at = _instant(gate["opened_at"])
        row.due_at = _instant(gate["due_at"])
        row.escalation_level = gate["escalation_level"]


def _project_event(
    session: Session,
    use_case: models.UseCase,
    type_: str,
    actor: str,
    at: dt.datetime,
    version: int,
    data: dict[str, Any],
    view: dict[str, Any],
) -> None:
    """History tables derived from the audit events, so the two can never disagree."""
    if type_ in ("intake_submitted", "intake_revised"):
        session.add(
            models.IntakeVersion(
                use_case_id=use_case.id,
                version=version,
                intake=data["intake"],
                classification=view["classification"],
                submitted_by=actor,
                submitted_at=at,
            )
        )
    elif type_ == "assessment_submitted":
        session.add(
            models.Assessment(
                use_case_id=use_case.id, version=version, content=data["assessment"], submitted_by=actor, submitted_at=at
            )
        )
    elif type_ == "gate_superseded":
        row = session.get(models.Gate, (use_case.id, data["gate_id"]))
        if row is not None:
            row.state = "superseded"
    elif type_ == "gate_decided":
        session.add(
            models.GateDecision(
                use_case_id=use_case.id,
                gate_id=data["gate_id"],
                role=data["role"],
                version=data["gate_version"],
                decision=data["decision"],
                comment=data["comment"],
                decided_by=actor,
                decided_at=at,
            )
        )
    elif type_ == "review_opened":
        session.add(
            models.Review(
                use_case_id=use_case.id,
                number=data["review"],
                trigger=data["trigger"],
                opened_at=at,
                due_at=dt.datetime.fromisoformat(data["due_at"]),
            )
        )
    elif type_ in ("review_answered", "review_completed"):
        review = session.scalar(
            select(models.Review)
            .where(models.Review.use_case_id == use_case.id, models.Review.number == data["review"])
            .order_by(models.Review.opened_at.desc())
            .limit(1)
        )
        if review is not None and type_ == "review_answered":
            review.answer, review.answered_by = data["answer"], actor
        elif review is not None:
            review.completed_at = at
    elif type_ == "incident_reported":
        session.add(
            models.Incident(
                use_case_id=use_case.id,
                number=data["number"],
                severity=data["severity"],
                description=data["description"],
                occurred_at=_instant(data.get("occurred_at")),
                reported_by=actor,
                reported_at=at,
            )
        )


def _instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


# ---------------------------------------------------------------- notifications


def _store_notices(session: Session, use_case_id: str, notices: Sequence[Notice], now: dt.datetime) -> None:
    """Resolve each notice's recipients now and queue one outbox row per person."""
    for notice in notices:
        recipients = {user.email for user in users_with_roles(session, notice.to_roles)}
        recipients |= {email for email in notice.to_emails if user_by_email(session, email) is not None}
        for email in sorted(recipients - set(notice.exclude)):
            session.add(
                models.Notification(
                    use_case_id=use_case_id,
                    key=notice.key,
                    kind=notice.kind,
                    recipient=email,
                    subject=notice.subject,
                    gate_id=notice.gate_id,
                    data=notice.data,
                    created_at=now,
                )
            )


def undelivered(session: Session, use_case_id: str, keys: Sequence[str] | None) -> Sequence[models.Notification]:
    """Outbox rows still to send: of the given notice keys, or all of the use case (a sweep)."""
    query = select(models.Notification).where(
        models.Notification.use_case_id == use_case_id,
        models.Notification.key.in_(list(keys)) if keys is not None else True,
        models.Notification.delivered_at.is_(None),
        models.Notification.error.is_(None),
    )
    return session.scalars(query.order_by(models.Notification.id)).all()


# ---------------------------------------------------------------- slack


def slack_message(session: Session, use_case_id: str, notice_key: str, recipient: str) -> models.SlackMessage | None:
    return session.scalar(
        select(models.SlackMessage).where(
            models.SlackMessage.use_case_id == use_case_id,
            models.SlackMessage.notice_key == notice_key,
            models.SlackMessage.recipient == recipient,
        )
    )


def gate_prompts(session: Session, use_case_id: str, gate_id: str) -> Sequence[models.SlackMessage]:
    """Every Slack prompt or reminder of a gate that still shows buttons."""
    return session.scalars(
        select(models.SlackMessage).where(
            models.SlackMessage.use_case_id == use_case_id,
            models.SlackMessage.gate_id == gate_id,
            models.SlackMessage.kind == "gate_request",
            models.SlackMessage.finalized_at.is_(None),
        )
    ).all()


def superseded_prompt_gates(session: Session, use_case_id: str) -> list[str]:
    """Gates superseded by a revision whose Slack prompts still show buttons."""
    query = (
        select(models.SlackMessage.gate_id)
        .join(
            models.Gate,
            (models.Gate.use_case_id == models.SlackMessage.use_case_id)
            & (models.Gate.gate_id == models.SlackMessage.gate_id),
        )
        .where(
            models.SlackMessage.use_case_id == use_case_id,
            models.SlackMessage.kind == "gate_request",
            models.SlackMessage.finalized_at.is_(None),
            models.Gate.state == "superseded",
        )
        .distinct()
    )
    return [gate_id for gate_id in session.scalars(query) if gate_id]


def user_by_slack_id(session: Session, slack_user_id: str) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.slack_user_id == slack_user_id))
