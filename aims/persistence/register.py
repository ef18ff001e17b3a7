"""Recording a transition: the register's only writer of process outcomes.

The workflow sends the transition (audit events and notices) and its slim state. One database
transaction writes the summary row and the state, collects the documents the events carry
(intake, assessment, sign-off, …) into `details` and the history tables, projects the gates
and the waiting items, appends the events to the use case's hash chain and queues the notices.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from aims.domain.deadlines import waiting
from aims.domain.state import AuditEvent as DomainEvent
from aims.domain.state import Transition, UseCaseState
from aims.persistence import chains, outbox
from aims.persistence.models import (
    Assessment,
    Base,
    Gate,
    GateDecision,
    Incident,
    IntakeVersion,
    Review,
    UseCase,
    WaitingItem,
)


@dataclass(frozen=True)
class Recorded:
    written: bool
    # Work for the channels: deliveries to send, and whether prompts of closed gates may need
    # finalising (0: the workflow starts no delivery activity).
    deliveries: int


# Built once: every transition runs these (SQLAlchemy memoises a statement's cache key on it).
_STORED = (
    select(UseCase.transition_number, UseCase.state, UseCase.details)
    .where(UseCase.id == bindparam("use_case_id"))
    .with_for_update()
)
_UPDATE_USE_CASE = update(UseCase.__table__).where(UseCase.id == bindparam("b_id"))
_UPDATE_GATE = (
    update(Gate.__table__)
    .where(Gate.use_case_id == bindparam("b_use_case_id"), Gate.gate_id == bindparam("b_gate_id"))
)
_CLEAR_WAITING = delete(WaitingItem.__table__).where(WaitingItem.use_case_id == bindparam("use_case_id"))
_LATEST_REVIEW = (
    select(Review.id)
    .where(Review.use_case_id == bindparam("b_use_case_id"), Review.number == bindparam("b_number"))
    .order_by(Review.opened_at.desc())
    .limit(1)
    .scalar_subquery()
)
_UPDATE_REVIEW = update(Review.__table__).where(Review.id == _LATEST_REVIEW)


@functools.cache
def _insert(model: type[Base]) -> Insert:
    return insert(model.__table__)


def record_transition(
    session: Session, state: UseCaseState, transition: Transition, now: dt.datetime, *, channels: Sequence[str]
) -> Recorded:
    """Idempotent: a transition at or below the stored one was written already (a retried
    activity whose commit landed), so nothing is written twice. Plain statements on the
    session's connection, not ORM objects: this runs for every transition of every use case."""
    connection = session.connection()
    stored = connection.execute(_STORED, {"use_case_id": state.id}).first()
    if stored is not None and stored.transition_number >= transition.number:
        return Recorded(False, _work_left(session, state.id, transition, channels))
    previous_gates = {gate["id"]: gate for gate in (stored.state.get("gates", []) if stored else [])}
    before = (stored.details or {}) if stored else {}
    details = dict(before)
    changes = _summary(state, now)
    if stored is None:  # a new use case first: the history rows refer to it
        connection.execute(_insert(UseCase), [{"id": state.id, "created_at": now, "details": {}, **changes}])
        changes = {}
    for event in transition.events:
        _HISTORY.get(event.type, _nothing)(connection, state, event, details)
    if details != before:
        changes["details"] = details
    if changes:
        connection.execute(_UPDATE_USE_CASE, {"b_id": state.id, **changes})
    _project_gates(connection, state, previous_gates)
    _project_waiting(connection, state)
    chains.append(
        session,
        state.id,
        [
            chains.NewEvent(type=e.type, actor=e.actor, at=e.at, version=e.version,
                            data=e.model_dump(mode="json")["data"], transition_number=transition.number)
            for e in transition.events
        ],  # fmt: skip
        now,
    )
    queued = outbox.store(session, state.id, transition.notices, now, channels, use_case_id=state.id)
    return Recorded(True, queued + (1 if channels and _closes_gates(transition) else 0))


def _closes_gates(transition: Transition) -> bool:
    """Prompts sent for these gates must be finalised: work for the delivery activity."""
    return any(event.type in ("gate_decided", "gate_superseded") for event in transition.events)


def _work_left(session: Session, use_case_id: str, transition: Transition, channels: Sequence[str]) -> int:
    """After a retried write: what the first attempt left to the channels (0: no delivery activity needed)."""
    if not channels:
        return 0
    keys = [notice.key for notice in transition.notices]
    pending = len(outbox.pending(session, use_case_id, keys)) if keys else 0
    return pending + (len(outbox.prompts_to_finalize(session, use_case_id)) if _closes_gates(transition) else 0)


def _summary(state: UseCaseState, now: dt.datetime) -> dict[str, Any]:
    """The register's columns for the use case (what the register's pages filter and show)."""
    classification = state.classification
    return {
        "name": state.name, "status": state.status, "aims_tier": classification.aims_tier,
        "regulatory_category": classification.regulatory_category, "version": state.version,
        "requester": state.requester, "business_owner": state.business_owner,
        "policy_version": classification.rubric_version, "next_review_due": state.next_review_due,
        "state": state.model_dump(mode="json"), "transition_number": state.transition_number, "updated_at": now,
    }  # fmt: skip


_GATE_COLUMNS = ("role", "kind", "version", "state", "opened_at", "due_at", "escalation_level")


def _project_gates(connection: Connection, state: UseCaseState, previous: dict[str, dict[str, Any]]) -> None:
    """Write the gates that are new or changed since the previous state (it has them all)."""
    new, changed = [], []
    for gate in state.gates:
        now_json = gate.model_dump(mode="json")
        before = previous.get(gate.id)
        if before is not None and all(before.get(column) == now_json[column] for column in _GATE_COLUMNS):
            continue
        values = {column: getattr(gate, column) for column in _GATE_COLUMNS}
        (new if before is None else changed).append({"use_case_id": state.id, "gate_id": gate.id, **values})
    if new:
        connection.execute(_insert(Gate), new)
    if changed:
        connection.execute(
            _UPDATE_GATE,
            [{"b_use_case_id": row["use_case_id"], "b_gate_id": row["gate_id"],
              **{column: row[column] for column in _GATE_COLUMNS}} for row in changed],  # fmt: skip
        )


def _project_waiting(connection: Connection, state: UseCaseState) -> None:
    connection.execute(_CLEAR_WAITING, {"use_case_id": state.id})
    items = [
        {
            "use_case_id": state.id, "kind": item.kind, "ref": item.ref, "label": item.label,
            "role": item.role, "roles": item.roles,
            "emails": item.emails, "exclude": item.exclude, "since": item.since, "due_at": item.due_at,
            "escalation_level": item.escalation_level,
        }  # fmt: skip
        for item in waiting(state)
    ]
    if items:
        connection.execute(_insert(WaitingItem), items)


# ------------------------------------------------------------ documents and history from the events

History = Callable[[Connection, UseCaseState, DomainEvent, dict[str, Any]], None]


def _nothing(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    """Events that only live in the audit trail."""


def _add(connection: Connection, model: type[Base], **values: Any) -> None:
    connection.execute(_insert(model), [values])


def _intake(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["intake"], details["intake_version"] = event.data["intake"], event.version
    _add(
        connection, IntakeVersion, use_case_id=state.id, version=event.version, intake=event.data["intake"],
        classification=state.classification.model_dump(mode="json"), submitted_by=event.actor, submitted_at=event.at,
    )  # fmt: skip


def _assessment(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    content = event.data["assessment"]
    details["assessment"], details["assessment_version"] = content, event.version
    _add(connection, Assessment, use_case_id=state.id, version=event.version, content=content,
         submitted_by=event.actor, submitted_at=event.at)  # fmt: skip


def _signoff(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["signoff"] = event.data["signoff"] | {
        "version": event.version, "signed_off_by": event.actor, "signed_off_at": event.at.isoformat(),
    }  # fmt: skip


def _decision(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    data = event.data
    _add(
        connection, GateDecision, use_case_id=state.id, gate_id=data["gate_id"], role=data["role"],
        version=data["gate_version"], decision=data["decision"], comment=data["comment"], decided_by=event.actor,
        decided_at=event.at,
    )  # fmt: skip


def _review_opened(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["review_answer"] = None
    _add(connection, Review, use_case_id=state.id, number=event.data["review"], trigger=event.data["trigger"],
         opened_at=event.at, due_at=dt.datetime.fromisoformat(event.data["due_at"]))  # fmt: skip


def _update_review(connection: Connection, state: UseCaseState, number: int, **values: Any) -> None:
    """The latest review row with this number."""
    connection.execute(_UPDATE_REVIEW, {"b_use_case_id": state.id, "b_number": number, **values})


def _review_answered(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["review_answer"] = {
        "review": event.data["review"], "answer": event.data["answer"], "answered_by": event.actor,
        "answered_at": event.at.isoformat(),
    }  # fmt: skip
    _update_review(connection, state, event.data["review"], answer=event.data["answer"], answered_by=event.actor)


def _review_ended(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    _update_review(connection, state, event.data["review"], completed_at=event.at,
                   outcome=event.data.get("outcome", "continued"))  # fmt: skip


def _incident(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    data = event.data
    _add(
        connection, Incident, use_case_id=state.id, number=data["number"], severity=data["severity"],
        description=data["description"],
        occurred_at=dt.datetime.fromisoformat(data["occurred_at"]) if data.get("occurred_at") else None,
        reported_by=event.actor, reported_at=event.at,
    )  # fmt: skip


def _decommission(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["decommission"] = {
        "reason": event.data["reason"], "requested_by": event.actor, "requested_at": event.at.isoformat(),
    }  # fmt: skip


def _checklist(connection: Connection, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["decommission"] = dict(details.get("decommission") or {}) | {
        "checklist": event.data["checklist"], "checklist_by": event.actor,
    }  # fmt: skip


_HISTORY: dict[str, History] = {
    "intake_submitted": _intake,
    "intake_revised": _intake,
    "assessment_submitted": _assessment,
    "signed_off": _signoff,
    "gate_decided": _decision,
    "review_opened": _review_opened,
    "review_answered": _review_answered,
    "review_completed": _review_ended,
    "review_closed": _review_ended,
    "incident_reported": _incident,
    "decommission_requested": _decommission,
    "decommission_checklist_confirmed": _checklist,
}
