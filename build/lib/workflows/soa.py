"""The Statement of Applicability's approval: one long-lived workflow for the whole AIMS.

The AIMS owner proposes (the proposal itself waits in the register as a draft; only its number
travels here), an executive other than the proposer approves or rejects it, and while it waits
the gates' ladder runs: reminder at 50 % of the SLA, stalled at 100 %, executives at 200 %.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from workflows.notices import GOVERNANCE_NOTICES_PATCH, NoticeSender
from workflows.register_writes import PERSIST_RETRY, REGISTER_TIMEOUT, refusal

with workflow.unsafe.imports_passed_through():
    from aims.domain import soa
    from aims.domain.messages import (
        DeliverRequest,
        DECIDE_SOA_UPDATE,
        PROPOSE_SOA_UPDATE,
        RECORD_SOA_DECISION_ACTIVITY,
        RECORD_SOA_ESCALATION_ACTIVITY,
        RECORD_SOA_PROPOSAL_ACTIVITY,
        SOA_WORKFLOW_TYPE,
    )
    from aims.domain.state import Refused

# Decisions before the history is handed over to a fresh run (continue-as-new).
DECISIONS_PER_RUN = 200
# How long a run waits for its last notices before handing over (the next run sends the rest).
DELIVERY_GRACE = timedelta(seconds=30)


@workflow.defn(name=SOA_WORKFLOW_TYPE)
class SoaWorkflow:
    @workflow.init
    def __init__(self, params: soa.SoaInput) -> None:
        self._pending = params.pending
        self._decisions = 0
        self._lock = asyncio.Lock()
        self._notices = NoticeSender()

    @workflow.run
    async def run(self, params: soa.SoaInput) -> None:
        if params.sweep and workflow.patched(GOVERNANCE_NOTICES_PATCH):
            self._notices.send(DeliverRequest(topic=soa.TOPIC))
        while self._decisions < DECISIONS_PER_RUN and not workflow.info().is_continue_as_new_suggested():
            pending = self._pending
            step = pending.next_step() if pending else None
            timeout = max(step - workflow.now(), timedelta(0)) if step else None
            try:
                await workflow.wait_condition(lambda: self._pending is not pending, timeout=timeout)
            except asyncio.TimeoutError:
                await self._escalate()
        await workflow.wait_condition(workflow.all_handlers_finished)
        unfinished = not await self._notices.settle(DELIVERY_GRACE)
        workflow.continue_as_new(soa.SoaInput(pending=self._pending, sweep=unfinished))

    @workflow.update(name=PROPOSE_SOA_UPDATE)
    async def propose(self, command: soa.ProposeSoa) -> soa.SoaAck:
        async with self._lock:
            _check(lambda: soa.may_propose(command.actor, self._pending))
            self._pending = await workflow.execute_local_activity(
                RECORD_SOA_PROPOSAL_ACTIVITY, soa.RecordProposal(command=command, at=workflow.now()),
                result_type=soa.PendingSoa, start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
            )  # fmt: skip
            self._tell()
            return soa.SoaAck(number=self._pending.number, status="proposed")

    @propose.validator
    def _validate_propose(self, command: soa.ProposeSoa) -> None:
        _check(lambda: soa.may_propose(command.actor, self._pending))

    @workflow.update(name=DECIDE_SOA_UPDATE)
    async def decide(self, command: soa.DecideSoa) -> soa.SoaAck:
        async with self._lock:
            _check(lambda: soa.may_decide(command.actor, self._pending, command.number))
            ack = await workflow.execute_local_activity(
                RECORD_SOA_DECISION_ACTIVITY, soa.RecordDecision(command=command, at=workflow.now()),
                result_type=soa.SoaAck, start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
            )  # fmt: skip
            self._pending = None
            self._decisions += 1
            self._tell()
            return ack

    @decide.validator
    def _validate_decide(self, command: soa.DecideSoa) -> None:
        _check(lambda: soa.may_decide(command.actor, self._pending, command.number))

    async def _escalate(self) -> None:
        async with self._lock:
            pending = self._pending
            if pending is None or pending.next_step() is None or workflow.now() < pending.next_step():
                return
            level = pending.level + 1
            await workflow.execute_local_activity(
                RECORD_SOA_ESCALATION_ACTIVITY, soa.RecordEscalation(number=pending.number, level=level, at=workflow.now()),
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
            )  # fmt: skip
            if self._pending is pending:
                self._pending = pending.model_copy(update={"level": level})
            self._tell()

    def _tell(self) -> None:
        """The notices the register queued with this change go out in the background."""
        if workflow.patched(GOVERNANCE_NOTICES_PATCH):
            self._notices.send(DeliverRequest(topic=soa.TOPIC))


def _check(rule: Callable[[], object]) -> None:
    try:
        rule()
    except Refused as error:
        raise refusal(error) from None
