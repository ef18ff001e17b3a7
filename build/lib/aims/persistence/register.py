"""Recording a transition: the register's only writer of process outcomes.

The workflow sends the transition (audit events and notices) and its slim state. One database
transaction writes the summary row and the state, collects the documents the events carry
(intake, assessment, sign-off, …) into `details` and the history tables, projects the gates
and the waiting items, appends the events to the use case's hash chain and queues the notices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from aims.domain.deadlines import waiting
from aims.domain.state import AuditEvent as DomainEvent
from aims.domain.state import Transition, UseCaseState
from aims.persistence import chains, outbox
from aims.persistence.models import (
    Assessment,
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


def record_transition(
    session: Session, state: UseCaseState, transition: Transition, now: dt.datetime, *, channels: Sequence[str]
) -> Recorded:
    """Idempotent: a transition at or below the stored one was written already (a retried
    activity whose commit landed), so nothing is written twice."""
    with session.no_autoflush:  # one flush at the end: the transition is a handful of statements
        use_case = session.get(UseCase, state.id, with_for_update=True)
        if use_case is not None and use_case.transition_number >= transition.number:
            return Recorded(False, _work_left(session, state.id, transition, channels))
        previous_gates = {gate["id"]: gate for gate in (use_case.state.get("gates", []) if use_case else [])}
        if use_case is None:
            use_case = UseCase(id=state.id, created_at=now, details={})
            session.add(use_case)
        _summarise(use_case, state, now)
        session.flush()  # a new use case first: the history rows refer to it
        details = dict(use_case.details or {})
        for event in transition.events:
            _HISTORY.get(event.type, _nothing)(session, state, event, details)
        use_case.details = details
        _project_gates(session, state, previous_gates)
        _project_waiting(session, state)
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


def _summarise(use_case: UseCase, state: UseCaseState, now: dt.datetime) -> None:
    classification = state.classification
    use_case.name = state.name
    use_case.status = state.status
    use_case.aims_tier = classification.aims_tier
    use_case.regulatory_category = classification.regulatory_category
    use_case.version = state.version
    use_case.requester = state.requester
    use_case.business_owner = state.business_owner
    use_case.policy_version = classification.rubric_version
    use_case.next_review_due = state.next_review_due
    use_case.state = state.model_dump(mode="json")
    use_case.transition_number = state.transition_number
    use_case.updated_at = now


_GATE_COLUMNS = ("role", "kind", "version", "state", "opened_at", "due_at", "escalation_level")


def _project_gates(session: Session, state: UseCaseState, previous: dict[str, dict[str, Any]]) -> None:
    """Write the gates that are new or changed since the previous state (it has them all)."""
    new = []
    for gate in state.gates:
        now_json = gate.model_dump(mode="json")
        before = previous.get(gate.id)
        if before is not None and all(before.get(column) == now_json[column] for column in _GATE_COLUMNS):
            continue
        values = {column: getattr(gate, column) for column in _GATE_COLUMNS}
        if before is None:
            new.append({"use_case_id": state.id, "gate_id": gate.id, **values})
        else:
            session.execute(update(Gate).where(Gate.use_case_id == state.id, Gate.gate_id == gate.id).values(**values))
    if new:
        session.execute(insert(Gate), new)


def _project_waiting(session: Session, state: UseCaseState) -> None:
    session.execute(delete(WaitingItem).where(WaitingItem.use_case_id == state.id))
    items = [
        {
            "use_case_id": state.id, "kind": item.kind, "ref": item.ref, "label": item.label,
            "role": item.roles[0] if item.kind in ("gate", "triage") else None, "roles": item.roles,
            "emails": item.emails, "exclude": item.exclude, "since": item.since, "due_at": item.due_at,
            "escalation_level": item.escalation_level,
        }  # fmt: skip
        for item in waiting(state)
    ]
    if items:
        session.execute(insert(WaitingItem), items)


# ------------------------------------------------------------ documents and history from the events

History = Callable[[Session, UseCaseState, DomainEvent, dict[str, Any]], None]


def _nothing(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    """Events that only live in the audit trail."""


def _intake(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["intake"], details["intake_version"] = event.data["intake"], event.version
    session.add(
        IntakeVersion(
            use_case_id=state.id, version=event.version, intake=event.data["intake"],
            classification=state.classification.model_dump(mode="json"), submitted_by=event.actor,
            submitted_at=event.at,
        )  # fmt: skip
    )


def _assessment(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    content = event.data["assessment"]
    details["assessment"], details["assessment_version"] = content, event.version
    session.add(
        Assessment(use_case_id=state.id, version=event.version, content=content, submitted_by=event.actor,
                   submitted_at=event.at)  # fmt: skip
    )


def _signoff(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["signoff"] = event.data["signoff"] | {
        "version": event.version, "signed_off_by": event.actor, "signed_off_at": event.at.isoformat(),
    }  # fmt: skip


def _decision(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    data = event.data
    session.add(
        GateDecision(
            use_case_id=state.id, gate_id=data["gate_id"], role=data["role"], version=data["gate_version"],
            decision=data["decision"], comment=data["comment"], decided_by=event.actor, decided_at=event.at,
        )  # fmt: skip
    )


def _review_opened(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["review_answer"] = None
    session.add(
        Review(use_case_id=state.id, number=event.data["review"], trigger=event.data["trigger"], opened_at=event.at,
               due_at=dt.datetime.fromisoformat(event.data["due_at"]))  # fmt: skip
    )


def _review_row(session: Session, state: UseCaseState, number: int) -> Review | None:
    return session.scalar(
        select(Review)
        .where(Review.use_case_id == state.id, Review.number == number)
        .order_by(Review.opened_at.desc())
        .limit(1)
    )


def _review_answered(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["review_answer"] = {
        "review": event.data["review"], "answer": event.data["answer"], "answered_by": event.actor,
        "answered_at": event.at.isoformat(),
    }  # fmt: skip
    session.flush()
    review = _review_row(session, state, event.data["review"])
    if review is not None:
        review.answer, review.answered_by = event.data["answer"], event.actor


def _review_ended(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    session.flush()
    review = _review_row(session, state, event.data["review"])
    if review is not None:
        review.completed_at = event.at
        review.outcome = event.data.get("outcome", "continued")


def _incident(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    data = event.data
    session.add(
        Incident(
            use_case_id=state.id, number=data["number"], severity=data["severity"], description=data["description"],
            occurred_at=dt.datetime.fromisoformat(data["occurred_at"]) if data.get("occurred_at") else None,
            reported_by=event.actor, reported_at=event.at,
        )  # fmt: skip
    )


def _decommission(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
    details["decommission"] = {
        "reason": event.data["reason"], "requested_by": event.actor, "requested_at": event.at.isoformat(),
    }  # fmt: skip


def _checklist(session: Session, state: UseCaseState, event: DomainEvent, details: dict[str, Any]) -> None:
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
