"""One nonconformity, from raised to closed: its corrective action under the gates' ladder,
completed by its owner, checked by an AIMS owner; reopened with a new action if not effective."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.notices import GOVERNANCE_NOTICES_PATCH, NoticeSender
from workflows.register_writes import PERSIST_RETRY, REGISTER_TIMEOUT, refusal

with workflow.unsafe.imports_passed_through():
    from aims.domain import nonconformity as nc
    from aims.domain.messages import (
        DeliverRequest,
        NC_ACT_UPDATE,
        NC_OPEN_UPDATE,
        NC_WORKFLOW_TYPE,
        RECORD_NC_CHANGE_ACTIVITY,
        RECORD_NC_ESCALATION_ACTIVITY,
        RECORD_NC_OPEN_ACTIVITY,
    )
    from aims.domain.state import Refused



@workflow.defn(name=NC_WORKFLOW_TYPE)
class NonconformityWorkflow:
    @workflow.init
    def __init__(self, params: nc.NcInput) -> None:
        self._number = params.number
        self._state = params.state
        self._lock = asyncio.Lock()
        self._notices = NoticeSender()

    @workflow.run
    async def run(self, params: nc.NcInput) -> nc.NcAck:
        await workflow.wait_condition(lambda: self._state is not None)
        while self._current().status != "closed":
            state = self._current()
            step = state.next_step()
            timeout = max(step - workflow.now(), timedelta(0)) if step else None
            try:
                await workflow.wait_condition(lambda: self._state is not state, timeout=timeout)
            except asyncio.TimeoutError:
                await self._escalate()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notices.settle(None)  # the closing notices go out before the run ends
        return self._ack()

    @workflow.update(name=NC_OPEN_UPDATE)
    async def open(self) -> nc.NcAck:
        async with self._lock:
            if self._state is None:
                self._state = await workflow.execute_local_activity(
                    RECORD_NC_OPEN_ACTIVITY, nc.OpenNc(number=self._number, at=workflow.now()),
                    result_type=nc.NcState, start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
                )  # fmt: skip
                self._tell()
            return self._ack()

    @workflow.update(name=NC_ACT_UPDATE)
    async def act(self, command: nc.NcCommand) -> nc.NcAck:
        async with self._lock:
            state = self._current()
            try:
                after = nc.apply(state, command, workflow.now())
            except Refused as error:
                raise refusal(error) from None
            await workflow.execute_local_activity(
                RECORD_NC_CHANGE_ACTIVITY, nc.RecordNcChange(command=command, after=after, at=workflow.now()),
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
            )  # fmt: skip
            self._state = after
            self._tell()
            return self._ack()

    @act.validator
    def _validate_act(self, command: nc.NcCommand) -> None:
        try:
            nc.check(self._current(), command, workflow.now())
        except Refused as error:
            raise refusal(error) from None

    async def _escalate(self) -> None:
        async with self._lock:
            state = self._current()
            step = state.next_step()
            if step is None or workflow.now() < step:
                return
            level = state.level + 1
            await workflow.execute_local_activity(
                RECORD_NC_ESCALATION_ACTIVITY, nc.RecordNcEscalation(number=state.number, level=level, at=workflow.now()),
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
            )  # fmt: skip
            if self._state is state:
                self._state = state.model_copy(update={"level": level})
            self._tell()

    def _tell(self) -> None:
        """The notices the register queued with this change go out in the background."""
        if workflow.patched(GOVERNANCE_NOTICES_PATCH):
            self._notices.send(DeliverRequest(topic=nc.topic(self._number)))

    def _current(self) -> nc.NcState:
        if self._state is None:
            raise ApplicationError("the nonconformity is still being opened", type="conflict", non_retryable=True)
        return self._state

    def _ack(self) -> nc.NcAck:
        state = self._current()
        return nc.NcAck(number=state.number, status=state.status, round=state.round)
