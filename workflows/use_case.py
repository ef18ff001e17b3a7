"""One durable workflow per AI use case, from intake to retirement.

The rules live in `aims.domain.lifecycle`; this module only gives them time and durability.
A human action arrives as the `act` Update (validated first, so a refused action changes
nothing); timers drive the deadlines and re-reviews; every transition is written to the
register by a local activity before the caller is answered, so the caller reads its own
write from the register. Notices for external channels are delivered in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.notices import NoticeSender
from workflows.register_writes import PERSIST_RETRY, REGISTER_TIMEOUT, refusal

with workflow.unsafe.imports_passed_through():
    from aims.domain import lifecycle
    from aims.domain.commands import COMMAND_TYPES, Command, LifecycleCommand, ReviseIntake
    from aims.domain.intake import Intake
    from aims.domain.messages import (
        ACT_UPDATE,
        CLASSIFY_ACTIVITY,
        RECORD_ACTIVITY,
        STATE_QUERY,
        SYNC_UPDATE,
        WORKFLOW_TYPE,
        Ack,
        ClassifyRequest,
        ClassifyResult,
        DeliverRequest,
        RecordRequest,
        RecordResult,
        UseCaseInput,
    )
    from aims.domain.state import TERMINAL, Refused, Transition, UseCaseState

# Changes to the workflow's commands, kept for runs that started before them (replay):
# deliveries get a grace period and are swept by the next run;
DELIVERY_SWEEP_PATCH = "delivery-sweep-and-grace"
# the register is written by local activities, and only external channels start a delivery.
LEAN_PATCH = "lean-core"

DELIVERY_GRACE = timedelta(seconds=30)
CLASSIFY_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["invalid"])


# Unsandboxed in production: the sandbox's per-activation work was a quarter of the worker's CPU,
# and it checked only this module (the rules in `aims.domain` are passed through). Determinism is
# guarded by tests instead: every workflow test and replay runs this workflow in the sandbox
# (`use_case_worker(sandbox_every_workflow=True)`), and tests/test_architecture.py refuses clocks,
# randomness, the environment and I/O in `workflows` and `aims.domain`.
@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class UseCaseWorkflow:
    @workflow.init
    def __init__(self, params: UseCaseInput) -> None:
        self._state: UseCaseState | None = params.state
        self._lock = asyncio.Lock()
        self._wake = False
        self._notices = NoticeSender()
        self._lean: bool | None = True if params.lean else None

    # ------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, params: UseCaseInput) -> Ack:
        async with self._lock:
            if self._state is None:
                assert params.intake is not None
                await self._start(params)
            elif self._is_lean():
                if params.sweep:  # notices the previous run could not hand over in time
                    self._notices.send(DeliverRequest(use_case_id=self._state.id))
            elif workflow.patched(DELIVERY_SWEEP_PATCH):
                self._notices.send(DeliverRequest(use_case_id=self._state.id))

        while True:
            state = self._require_state()
            if state.status in TERMINAL:
                break
            if state.cycle_closed or workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            self._wake = False
            deadline = lifecycle.next_deadline(state)
            timeout = max(deadline - workflow.now(), timedelta(0)) if deadline else None
            try:
                await workflow.wait_condition(lambda: self._wake, timeout=timeout)
            except asyncio.TimeoutError:
                async with self._lock:
                    ticked = lifecycle.tick(self._require_state(), workflow.now())
                    if ticked:
                        await self._commit(*ticked)

        await self._settle()
        return self._ack()

    async def _start(self, params: UseCaseInput) -> None:
        assert params.intake is not None
        result = params.classified or await self._classify(params.intake)
        state, transition = lifecycle.start(
            use_case_id=params.use_case_id,
            intake=params.intake,
            classification=result.classification,
            routing=result.routing,
            timing=result.timing,
            requester=params.requester,
            now=workflow.now(),
        )
        await self._commit(state, transition)

    async def _continue_as_new(self) -> None:
        unfinished = await self._settle()
        state = self._require_state().model_copy(update={"cycle_closed": False})
        workflow.continue_as_new(
            UseCaseInput(
                use_case_id=state.id, requester=state.requester, state=state, sweep=unfinished, lean=self._is_lean()
            )
        )

    # ------------------------------------------------------------ reads

    @workflow.query(name=STATE_QUERY)
    def state(self) -> UseCaseState:
        return self._require_state()

    @workflow.update(name=SYNC_UPDATE)
    async def sync(self) -> Ack:
        """Wait until the use case exists and everything applied so far is in the register."""
        await workflow.wait_condition(lambda: self._state is not None)
        async with self._lock:
            return self._ack()

    # ------------------------------------------------------------ human actions

    @workflow.update(name=ACT_UPDATE)
    async def act(self, command: LifecycleCommand) -> Ack:
        return await self._act(command)

    @act.validator
    def _validate_act(self, command: LifecycleCommand) -> None:
        self._validate(command)

    @workflow.update(dynamic=True)
    async def by_name(self, name: str, args: Sequence[RawValue]) -> Ack:
        """The Updates sent before `act` existed, one name per command (their histories replay)."""
        return await self._act(self._decode(name, args))

    @by_name.validator
    def _validate_by_name(self, name: str, args: Sequence[RawValue]) -> None:
        self._validate(self._decode(name, args))

    # ------------------------------------------------------------ internals

    def _is_lean(self) -> bool:
        """Runs started on the lean core say so in their input; older ones ask (replay)."""
        if self._lean is None:
            self._lean = workflow.patched(LEAN_PATCH)
        return self._lean

    def _require_state(self) -> UseCaseState:
        if self._state is None:
            raise ApplicationError("the use case is still being created", type="conflict", non_retryable=True)
        return self._state

    def _ack(self) -> Ack:
        state = self._require_state()
        return Ack(
            use_case_id=state.id, status=state.status, version=state.version, transition_number=state.transition_number
        )

    def _decode(self, name: str, args: Sequence[RawValue]) -> Command:
        command_type = COMMAND_TYPES.get(name)
        if command_type is None or len(args) != 1:
            raise ApplicationError(f"no such action: {name}", type="not_found", non_retryable=True)
        return workflow.payload_converter().from_payload(args[0].payload, command_type)

    def _seen(self) -> bool:
        """A request id already applied, in this run or an earlier one: answer, don't repeat."""
        info = workflow.current_update_info()
        return info is not None and info.id in self._require_state().seen_requests

    def _validate(self, command: Command) -> None:
        state = self._require_state()
        if self._seen():
            return
        try:
            lifecycle.check(state, command)
        except Refused as error:
            raise refusal(error) from None

    async def _act(self, command: Command) -> Ack:
        async with self._lock:
            if self._seen():
                return self._ack()
            try:
                if isinstance(command, ReviseIntake):  # sent before the API classified revisions
                    lifecycle.check(self._require_state(), command)
                    command = command.classified(await self._classify(command.intake))
                # Valid when validated, but another action may have got in first while we waited.
                new_state, transition = lifecycle.apply(self._require_state(), command, workflow.now())
            except Refused as error:
                raise refusal(error) from None
            info = workflow.current_update_info()
            assert info is not None
            lifecycle.remember_request(new_state, info.id)
            await self._commit(new_state, transition)
            return self._ack()

    async def _commit(self, state: UseCaseState, transition: Transition) -> None:
        """Adopt the new state and write it to the register; deliver notices to external channels
        in the background, so a slow or absent channel never holds up the lifecycle."""
        self._state = state
        self._wake = True
        request = RecordRequest(state=state, transition=transition)
        if self._is_lean():
            recorded = await workflow.execute_local_activity(
                RECORD_ACTIVITY, request, result_type=RecordResult,
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=PERSIST_RETRY,
            )  # fmt: skip
            deliver = recorded.deliveries > 0
        else:
            await workflow.execute_activity(
                RECORD_ACTIVITY, request, start_to_close_timeout=timedelta(seconds=30), retry_policy=PERSIST_RETRY
            )
            deliver = bool(transition.notices)
        if deliver:
            keys = [notice.key for notice in transition.notices]
            self._notices.send(DeliverRequest(use_case_id=state.id, notice_keys=keys))

    async def _settle(self) -> bool:
        """Before this run ends: let every accepted Update finish and give deliveries a grace
        period, including those an Update started meanwhile. True if some did not finish."""
        if self._is_lean() or workflow.patched(DELIVERY_SWEEP_PATCH):
            # A channel that is down must not hold the run open: the next run sweeps the rest.
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._notices.settle(DELIVERY_GRACE)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return not self._notices.finished()
        while True:  # runs from before the sweep: every delivery, however long it takes
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._notices.settle(None)
            if workflow.all_handlers_finished() and self._notices.finished():
                return False

    async def _classify(self, intake: Intake) -> ClassifyResult:
        request = ClassifyRequest(intake=intake)
        if self._is_lean():
            return await workflow.execute_local_activity(
                CLASSIFY_ACTIVITY, request, result_type=ClassifyResult,
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=CLASSIFY_RETRY,
            )  # fmt: skip
        return await workflow.execute_activity(
            CLASSIFY_ACTIVITY, request, result_type=ClassifyResult,
            start_to_close_timeout=timedelta(seconds=30), retry_policy=CLASSIFY_RETRY,
        )  # fmt: skip
