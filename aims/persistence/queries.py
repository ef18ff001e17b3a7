"""Reading the register: every query the API, the web pages, Slack and the digest answer from.
Reads never touch Temporal; the register is written before a workflow answers an action, so
a caller reads its own writes."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, String, bindparam, cast, func, or_, select, tuple_
from sqlalchemy.orm import Session, defer, selectinload

from aims import audit
from aims.domain.bounds import EMAIL_MAX, PRINTABLE, SHORT_MAX
from aims.domain.classification import Category
from aims.domain.deadlines import Waiting, waiting
from aims.domain.policy import Tier
from aims.domain.state import Escalation, Status, UseCaseState
from aims.persistence import chains, nonconformities, reports, users
from aims.persistence.models import Gate, GateDecision, Incident, Notification, SoaProposal, UseCase, WaitingItem


class RegisterFilter(BaseModel):
    """The register's filters, declared once for the API, the web page, the CSV and Slack."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    aims_tier: Tier | None = None
    category: Category | None = None
    owner: str | None = Field(
        default=None, max_length=EMAIL_MAX, pattern=PRINTABLE, description="business owner's e-mail"
    )
    q: str | None = Field(default=None, max_length=SHORT_MAX, pattern=PRINTABLE, description="words in the name or owner")


def get_use_case(session: Session, use_case_id: str) -> UseCase | None:
    return session.get(UseCase, use_case_id)


# Every action's answer reads the use case's detail: plain Core statements, built once. Through
# the ORM the same queries cost three times as much CPU (bench/lifecycle.py's API).
_USE_CASES, _GATES, _DECISIONS, _INCIDENTS = (model.__table__ for model in (UseCase, Gate, GateDecision, Incident))
_USE_CASE_ROW = select(_USE_CASES).where(_USE_CASES.c.id == bindparam("id"))
_COMMENTS = select(_DECISIONS.c.gate_id, _DECISIONS.c.comment).where(
    _DECISIONS.c.use_case_id == bindparam("id"), _DECISIONS.c.gate_id.in_(bindparam("gates", expanding=True))
)
_INCIDENT_ROWS = select(_INCIDENTS).where(_INCIDENTS.c.use_case_id == bindparam("id")).order_by(_INCIDENTS.c.number)

# A use case's columns, read-only, named as on `UseCase`.
UseCaseRow = UseCase | Row[Any]


def use_case_row(session: Session, use_case_id: str) -> Row[Any] | None:
    """The use case's columns to read (not to change: that is the workflow's, through the register)."""
    return session.connection().execute(_USE_CASE_ROW, {"id": use_case_id}).one_or_none()


def state_of(row: UseCaseRow) -> UseCaseState:
    return UseCaseState.model_validate(row.state)


def _register_query(filters: RegisterFilter, involving: str | None = None, *, with_state: bool = False) -> Any:
    """The rows that match; their summary columns only unless `with_state` (the state and the
    documents are large JSON: a page of the register never needs them)."""
    query = select(UseCase) if with_state else select(UseCase).options(defer(UseCase.state), defer(UseCase.details))
    if filters.status:
        query = query.where(UseCase.status == filters.status)
    if filters.aims_tier:
        query = query.where(UseCase.aims_tier == filters.aims_tier)
    if filters.category:
        query = query.where(UseCase.regulatory_category == filters.category)
    if filters.owner:
        query = query.where(UseCase.business_owner == filters.owner.strip().lower())
    if involving:
        person = involving.strip().lower()
        query = query.where(or_(UseCase.requester == person, UseCase.business_owner == person))
    if filters.q and filters.q.strip():
        pattern = f"%{filters.q.strip().lower()}%"
        query = query.where(or_(func.lower(UseCase.name).like(pattern), UseCase.business_owner.like(pattern)))
    return query


def list_use_cases(
    session: Session, filters: RegisterFilter, *, involving: str | None = None, limit: int = 50, offset: int = 0,
    with_state: bool = False,
) -> tuple[int, Sequence[UseCase]]:
    query = _register_query(filters, involving, with_state=with_state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(UseCase.created_at.desc(), UseCase.id.desc()).limit(limit).offset(offset)).all()
    return total, rows


def iter_use_cases(session: Session, filters: RegisterFilter, batch: int = 500) -> Any:
    """Every row that matches, newest first, in batches that each start where the last ended
    (the CSV export streams them all; no OFFSET, so the last batch costs what the first did)."""
    query = _register_query(filters).order_by(UseCase.created_at.desc(), UseCase.id.desc()).limit(batch)
    rows = session.scalars(query).all()
    while rows:
        yield from rows
        last = rows[-1]
        rows = session.scalars(query.where(tuple_(UseCase.created_at, UseCase.id) < (last.created_at, last.id))).all()


def use_case_detail(session: Session, row: UseCaseRow) -> dict[str, Any]:
    """The use case as the API returns it: the state, the current documents, comments, incidents."""
    state = state_of(row)
    details = row.details or {}
    connection = session.connection()
    # Only what the state says is there is read: the waiting items are the state's own (the
    # register's rows are written from it), comments exist once a gate is decided.
    decided = [gate.id for gate in state.gates if gate.decided_by]
    comments = dict(connection.execute(_COMMENTS, {"id": row.id, "gates": decided}).all()) if decided else {}
    incidents = connection.execute(_INCIDENT_ROWS, {"id": row.id}).all() if state.incidents else []
    items = sorted(waiting(state), key=lambda item: (item.due_at, item.kind, item.ref))
    review = state.review.model_dump(mode="json") if state.review else None
    answer = details.get("review_answer")
    if review is not None and answer and answer.get("review") == review["number"]:
        review["answer"] = answer["answer"]
    return {
        "id": state.id,
        "name": state.name,
        "requester": state.requester,
        "business_owner": state.business_owner,
        "status": state.status,
        "status_reason": state.status_reason,
        "version": state.version,
        "classification": state.classification.model_dump(mode="json"),
        "routing": state.routing.model_dump(mode="json"),
        "policy_version": state.classification.rubric_version,
        "created_at": audit.iso(state.created_at),
        "updated_at": audit.iso(state.updated_at),
        "intake": details.get("intake"),
        "assessment": details.get("assessment"),
        "assessment_version": details.get("assessment_version"),
        "signoff": details.get("signoff") if state.signed_off_now else None,
        "signoff_blockers": state.unresolved_blockers(),
        "gates": [
            gate.model_dump(mode="json") | {"stalled": gate.stalled, "comment": comments.get(gate.id) or None}
            for gate in state.gates
        ],
        "in_production_since": _iso(state.in_production_since),
        "last_review_completed_at": _iso(state.last_review_completed_at),
        "next_review_due": _iso(state.next_review_due),
        "review": review,
        "reviews_completed": state.reviews_completed,
        "incidents": state.incidents,
        "incident_reports": [
            {
                "number": i.number, "severity": i.severity, "description": i.description,
                "reported_by": i.reported_by, "reported_at": audit.iso(i.reported_at),
            }  # fmt: skip
            for i in incidents
        ],
        "suspended": state.suspended,
        "decommission": (details.get("decommission") or {}) if state.decommission else None,
        "waiting": [waiting_view(item) for item in items],
        "transition_number": state.transition_number,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return audit.iso(value) if value else None


def audit_trail(session: Session, use_case_id: str) -> dict[str, Any]:
    return {"use_case_id": use_case_id, **_chain(session, use_case_id)}


def system_trail(session: Session) -> dict[str, Any]:
    """Who added, changed or removed which user, role and token, and who did it."""
    return {"chain": chains.SYSTEM_CHAIN, **_chain(session, chains.SYSTEM_CHAIN)}


def _chain(session: Session, chain_id: str) -> dict[str, Any]:
    check = chains.verify(session, chain_id)
    return {
        "verified": check.verified,
        "first_broken_seq": check.first_broken_seq,
        "reason": check.reason,
        "length": check.length,
        "head_hash": check.head_hash,
        "events": [
            {
                "seq": e.seq, "type": e.type, "actor": e.actor, "at": audit.iso(e.at), "version": e.version,
                "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash,
            }  # fmt: skip
            for e in chains.events(session, chain_id)
        ],
    }


# Each Slack click and each finalised prompt reads one: a Core statement, built once.
_GATE_WITH_DECISION = (
    select(_GATES.c.gate_id, _GATES.c.role, _GATES.c.kind, _GATES.c.version, _GATES.c.state, _GATES.c.due_at,
           _DECISIONS.c.decided_by, _DECISIONS.c.decided_at, _DECISIONS.c.decision, _DECISIONS.c.comment)
    .outerjoin(_DECISIONS, (_DECISIONS.c.use_case_id == _GATES.c.use_case_id) & (_DECISIONS.c.gate_id == _GATES.c.gate_id))
    .where(_GATES.c.use_case_id == bindparam("use_case_id"), _GATES.c.gate_id == bindparam("gate_id"))
)  # fmt: skip


def gate_with_decision(session: Session, use_case_id: str, gate_id: str) -> dict[str, Any] | None:
    """A gate as the register has it now, with its decision (also one no longer in the state)."""
    gate = session.connection().execute(_GATE_WITH_DECISION, {"use_case_id": use_case_id, "gate_id": gate_id}).first()
    if gate is None:
        return None
    return {
        "id": gate.gate_id, "role": gate.role, "kind": gate.kind, "version": gate.version, "state": gate.state,
        "due_at": gate.due_at.isoformat() if gate.due_at else None, "decided_by": gate.decided_by,
        "decided_at": gate.decided_at.isoformat() if gate.decided_at else None,
        "decision": gate.decision, "comment": gate.comment,
    }  # fmt: skip


# ------------------------------------------------------------ what waits on whom


def waiting_view(item: Waiting | WaitingItem | Row[Any], use_case: UseCase | None = None) -> dict[str, Any]:
    view = {
        "kind": item.kind,
        "ref": item.ref,
        "label": item.label,
        "role": item.role,
        "who": item.roles + item.emails,
        "since": audit.iso(item.since),
        "due_at": audit.iso(item.due_at),
        "escalation_level": item.escalation_level,
        "stalled": Escalation.is_stalled(item.escalation_level),
    }
    if use_case is not None:
        view |= {
            "use_case_id": use_case.id, "name": use_case.name, "status": use_case.status,
            "aims_tier": use_case.aims_tier, "regulatory_category": use_case.regulatory_category,
            "requester": use_case.requester, "business_owner": use_case.business_owner, "version": use_case.version,
        }  # fmt: skip
    return view


# Lists come in one order every time, on every database: gates opened by one transition share
# their `since` and `due_at`, so the key runs on to the primary key.
_OLDEST_FIRST = (WaitingItem.since, WaitingItem.use_case_id, WaitingItem.kind, WaitingItem.ref)
_SOONEST_DUE_FIRST = (WaitingItem.due_at, WaitingItem.use_case_id, WaitingItem.kind, WaitingItem.ref)


def gates_waiting_for(session: Session, email: str, roles: Sequence[str]) -> list[dict[str, Any]]:
    """Open gates (and triages) this person may decide: their role, and nobody excluded by P1;
    each with what the use case does, so the queue says what is being approved."""
    query = (
        select(WaitingItem, UseCase)
        .join(UseCase, UseCase.id == WaitingItem.use_case_id)
        .where(WaitingItem.kind.in_(["gate", "triage"]), WaitingItem.role.in_(list(roles)))
        .order_by(*_OLDEST_FIRST)
    )
    return [
        waiting_view(item, use_case)
        | {"gate_id": item.ref, "opened_at": audit.iso(item.since),
           "purpose": ((use_case.details or {}).get("intake") or {}).get("purpose", "")}  # fmt: skip
        for item, use_case in session.execute(query).all()
        if email not in item.exclude
    ]


def waiting_on(session: Session, use_case_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """What each of these use cases waits for now, and from whom (soonest due first)."""
    waiting: dict[str, list[dict[str, Any]]] = {use_case_id: [] for use_case_id in use_case_ids}
    if not waiting:
        return waiting
    query = select(WaitingItem).where(WaitingItem.use_case_id.in_(list(waiting))).order_by(*_SOONEST_DUE_FIRST)
    for item in session.scalars(query):
        waiting[item.use_case_id].append(waiting_view(item))
    return waiting


def reviews_owed(session: Session, email: str) -> list[dict[str, Any]]:
    """Re-reviews waiting for this person's answer (the business owner's), oldest first."""
    return _waiting_on(session, "review", email, [])


def stages_waiting_for(session: Session, email: str, roles: Sequence[str]) -> list[dict[str, Any]]:
    """What a use case waits for from this person, outside its gates: the assessment, a
    revision, the sign-off, the decommission checklist (or, by role, a legal hold), oldest first."""
    return _waiting_on(session, "stage", email, roles)


def _waiting_on(session: Session, kind: str, email: str, roles: Sequence[str]) -> list[dict[str, Any]]:
    # The JSON lists as text narrow the rows in SQL (SQLite and PostgreSQL alike); the lists decide.
    named = [cast(WaitingItem.emails, String).contains(f'"{email}"', autoescape=True)]
    named += [cast(WaitingItem.roles, String).contains(f'"{role}"', autoescape=True) for role in roles]
    query = (
        select(WaitingItem, UseCase)
        .join(UseCase, UseCase.id == WaitingItem.use_case_id)
        .where(WaitingItem.kind == kind, or_(*named))
        .order_by(*_OLDEST_FIRST)
    )
    return [
        waiting_view(item, use_case)
        for item, use_case in session.execute(query).all()
        if email in item.emails or set(roles) & set(item.roles)
    ]


def stalled(session: Session) -> list[dict[str, Any]]:
    """Every item past its deadline, whatever its kind, oldest first, with who can act on it now
    (active users only: what waits on a leaver shows as unassigned, with why)."""
    query = (
        select(WaitingItem, UseCase)
        .join(UseCase, UseCase.id == WaitingItem.use_case_id)
        .where(WaitingItem.escalation_level >= Escalation.STALLED)
        .order_by(*_SOONEST_DUE_FIRST)
    )
    rows = session.execute(query).all()
    holders = users.holders_of(session, {role for item, _ in rows for role in item.roles})
    inactive = users.inactive_emails(session, {email for item, _ in rows for email in item.emails})
    views = []
    for item, use_case in rows:
        excluded = set(item.exclude)
        by_role = {role: holders.get(role, set()) - excluded for role in item.roles}
        people = {email for email in item.emails if email not in inactive} - excluded
        view = waiting_view(item, use_case) | {
            "assignees": sorted(people.union(*by_role.values())), "link": f"/use-cases/{use_case.id}",
        }  # fmt: skip
        if not view["assignees"]:
            view["unassigned"] = "; ".join(
                [f"{email} is deactivated" for email in item.emails if email in inactive]
                + [f"nobody active may act as {role}" for role, emails in by_role.items() if not emails]
            )
        views.append(view)
    return views + _stalled_soa(session) + nonconformities.stalled(session) + reports.stalled(session, dt.datetime.now(dt.UTC))


def _stalled_soa(session: Session) -> list[dict[str, Any]]:
    """A Statement of Applicability proposal past its deadline waits on the executives too."""
    row = session.scalar(
        select(SoaProposal).where(SoaProposal.status == "proposed", SoaProposal.escalation_level >= Escalation.STALLED)
    )
    if row is None or row.proposed_at is None or row.due_at is None:
        return []
    assignees = sorted(users.holders_of(session, {"executive"}).get("executive", set()) - {row.proposed_by})
    view = {
        "kind": "soa", "ref": str(row.number), "label": f"Statement of Applicability proposal {row.number}",
        "role": "executive", "who": ["executive"], "since": audit.iso(row.proposed_at), "due_at": audit.iso(row.due_at),
        "escalation_level": row.escalation_level, "stalled": True, "use_case_id": None,
        "name": "Statement of Applicability", "status": "proposed", "assignees": assignees, "link": "/soa",
    }  # fmt: skip
    if not assignees:
        view["unassigned"] = "nobody active may act as executive (other than the proposer)"
    return [view]


def open_gate_openings(session: Session) -> list[dt.datetime]:
    return [opened for opened in session.scalars(select(Gate.opened_at).where(Gate.state == "open")) if opened]


def counts_by(session: Session) -> tuple[Counter[str], Counter[str]]:
    by_status = Counter(dict(session.execute(select(UseCase.status, func.count()).group_by(UseCase.status)).all()))
    by_tier = Counter(dict(session.execute(select(UseCase.aims_tier, func.count()).group_by(UseCase.aims_tier)).all()))
    return by_status, by_tier


def reminders_sent(session: Session, use_case_id: str, ref: str) -> int:
    """How many reminders an item has had (a reminder goes to several people: count notices)."""
    query = select(func.count(func.distinct(Notification.key))).where(
        Notification.use_case_id == use_case_id,
        Notification.gate_id == ref,
        Notification.kind == "gate_reminder",
    )
    return session.scalar(query) or 0


def notifications_for(
    session: Session, recipient: str | None, *, use_case_id: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[Notification]:
    query = select(Notification).options(selectinload(Notification.deliveries))
    if recipient is not None:
        query = query.where(Notification.recipient == recipient)
    if use_case_id:
        query = query.where(Notification.use_case_id == use_case_id)
    return session.scalars(query.order_by(Notification.id.desc()).limit(limit).offset(offset)).all()
