"""One transition in the making: a copy of the state, and the events and notices it produces."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aims.domain.state import AuditEvent, Notice, NoticeKind, StageClock, Status, Transition, UseCaseState


def copy_state(state: UseCaseState) -> UseCaseState:
    """A copy that a transition may change; the frozen parts (classification, timing) are shared."""
    return state.model_copy(
        update={
            "conflicted": list(state.conflicted),
            "gates": [gate.model_copy() for gate in state.gates],
            "operations": state.operations,
            "review": state.review.model_copy() if state.review else None,
            "decommission": state.decommission.model_copy() if state.decommission else None,
            "stage": state.stage.model_copy() if state.stage else None,
            "seen_requests": list(state.seen_requests),
        }
    )


class Change:
    """Collects what one transition does; `finish` numbers it and records a status change."""

    def __init__(self, state: UseCaseState, now: dt.datetime, actor: str, status_before: str | None = None):
        self.state = copy_state(state)
        self.now = now
        self.actor = actor
        self.events: list[AuditEvent] = []
        self.notices: list[Notice] = []
        self._status_before = state.status if status_before is None else status_before
        self._explicit_start = status_before == ""

    def event(self, type_: str, **data: Any) -> None:
        self.events.append(AuditEvent(type=type_, actor=self.actor, at=self.now, version=self.state.version, data=data))

    def notify(self, kind: NoticeKind, subject: str, *, key: str, **fields: Any) -> None:
        self.notices.append(
            Notice(key=f"{self.state.transition_number + 1}:{kind}:{key}", kind=kind, subject=subject, **fields)
        )

    def set_status(self, status: Status, reason: str = "") -> None:
        self.state.status = status
        self.state.status_reason = reason[:500]

    def changed(self) -> bool:
        return bool(self.events or self.notices)

    def finish(self) -> tuple[UseCaseState, Transition]:
        state = self.state
        if state.status != self._status_before or self._explicit_start:
            self.event(
                "status_changed",
                before=self._status_before or None,
                after=state.status,
                reason=state.status_reason,
            )
        self._follow_stage_clock()
        state.transition_number += 1
        state.updated_at = self.now
        return state, Transition(
            number=state.transition_number, use_case_id=state.id, events=self.events, notices=self.notices
        )

    def _follow_stage_clock(self) -> None:
        """A waiting status gets its own deadline when entered (P2); leaving it stops the clock."""
        state = self.state
        if state.stage is not None and state.stage.status == state.status:
            return
        stage_sla = state.timing.stage_sla
        sla = stage_sla.for_status(state.status) if stage_sla else None
        state.stage = (
            StageClock(status=state.status, since=self.now, due_at=sla.after(self.now)) if sla is not None else None
        )
