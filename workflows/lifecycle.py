"""One durable workflow per AI use case, from intake to retirement.

The rules live in `aims.domain.lifecycle`; this module only gives them time and durability:
human actions arrive as Updates (validated first, so a refused action changes nothing),
timers drive SLA escalations and re-reviews, and every transition is persisted by an
activity before the caller gets the new state back.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from aims.domain import lifecycle
    from aims.domain.lifecycle import Command, Refused, Transition, UseCaseState
    from aims.domain.messages import (
        CLASSIFY_ACTIVITY,
        DELIVER_ACTIVITY,
        RECORD_ACTIVITY,
        WORKFLOW_TYPE,
        ClassifyRequest,
        ClassifyResult,
        DeliverRequest,
        LifecycleInput,
        RecordRequest,
    )

# The register must catch up whatever happens: retry for as long as it takes.
# Deliveries get this long to finish before a run ends; later runs sweep the rest.
DELIVERY_SWEEP_PATCH = "delivery-sweep-and-grace"
DELIVERY_GRACE = timedelta(seconds=30)
PERSIST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def _refusal(error: Refused) -> ApplicationError:
    return ApplicationError(error.message, type=error.code, non_retryable=True)


@workflow.defn(name=WORKFLOW_TYPE)
class UseCaseLifecycleWorkflow:
    @workflow.init
    def __init__(self, params: LifecycleInput) -> None:
        self._state: UseCaseState | None = params.state
        self._lock = asyncio.Lock()
        self._wake = False
        self._deliveries: list[Any] = []

    # ------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, params: LifecycleInput) -> dict[str, Any]:
        async with self._lock:
            if self._state is None:
                assert params.intake is not None
                result = await self._classify(params.intake)
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
            elif workflow.patched(DELIVERY_SWEEP_PATCH):
                # Notices the previous run could not hand over before it continued as new.
                self._deliveries.append(self._deliver(DeliverRequest(use_case_id=self._state.id)))

        while True:
            state = self._require_state()
            if state.status in lifecycle.TERMINAL:
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
        return self._require_state().view()

    async def _continue_as_new(self) -> None:
        await self._settle()
        state = self._require_state().model_copy(update={"cycle_closed": False})
        workflow.continue_as_new(LifecycleInput(use_case_id=state.id, requester=state.requester, state=state))

    # ------------------------------------------------------------ reads

    @workflow.query
    def state(self) -> dict[str, Any]:
        return self._require_state().view()

    @workflow.update
    async def sync(self) -> dict[str, Any]:
        """Wait until everything applied so far is persisted; the API's read-your-writes barrier."""
        await workflow.wait_condition(lambda: self._state is not None)
        async with self._lock:
            return self._require_state().view()

    # ------------------------------------------------------------ human actions

    @workflow.update
    async def submit_assessment(self, command: lifecycle.SubmitAssessment) -> dict[str, Any]:
        return await self._act(command)

    @submit_assessment.validator
    def _validate_assessment(self, command: lifecycle.SubmitAssessment) -> None:
        self._validate(command)

    @workflow.update
    async def decide_gate(self, command: lifecycle.DecideGate) -> dict[str, Any]:
        return await self._act(command)

    @decide_gate.validator
    def _validate_decision(self, command: lifecycle.DecideGate) -> None:
        self._validate(command)

    @workflow.update
    async def revise_intake(self, request: lifecycle.ReviseIntake) -> dict[str, Any]:
        """Re-classify under the current policy, then restart every gate on the new version."""
        if self._seen():
            return self._require_state().view()
        result = await self._classify(request.intake)
        command = lifecycle.Revise(
            actor=request.actor,
            intake=request.intake,
            reason=request.reason,
            classification=result.classification,
            routing=result.routing,
            timing=result.timing,
        )
        return await self._act(command)

    @revise_intake.validator
    def _validate_revision(self, request: lifecycle.ReviseIntake) -> None:
        self._validate(request)

    @workflow.update
    async def sign_off(self, command: lifecycle.SignOffCommand) -> dict[str, Any]:
        return await self._act(command)

    @sign_off.validator
    def _validate_signoff(self, command: lifecycle.SignOffCommand) -> None:
        self._validate(command)

    @workflow.update
    async def submit_review(self, command: lifecycle.SubmitReview) -> dict[str, Any]:
        return await self._act(command)

    @submit_review.validator
    def _validate_review(self, command: lifecycle.SubmitReview) -> None:
        self._validate(command)

    @workflow.update
    async def report_incident(self, command: lifecycle.ReportIncident) -> dict[str, Any]:
        return await self._act(command)

    @report_incident.validator
    def _validate_incident(self, command: lifecycle.ReportIncident) -> None:
        self._validate(command)

    @workflow.update
    async def request_decommission(self, command: lifecycle.RequestDecommission) -> dict[str, Any]:
        return await self._act(command)

    @request_decommission.validator
    def _validate_decommission(self, command: lifecycle.RequestDecommission) -> None:
        self._validate(command)

    @workflow.update
    async def confirm_checklist(self, command: lifecycle.ConfirmChecklist) -> dict[str, Any]:
        return await self._act(command)

    @confirm_checklist.validator
    def _validate_checklist(self, command: lifecycle.ConfirmChecklist) -> None:
        self._validate(command)

    # ------------------------------------------------------------ internals

    def _require_state(self) -> UseCaseState:
        if self._state is None:
            raise ApplicationError("the use case is still being created", type="conflict", non_retryable=True)
        return self._state

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
            raise _refusal(error) from None

    async def _act(self, command: Command) -> dict[str, Any]:
        async with self._lock:
            state = self._require_state()
            if self._seen():
                return state.view()
            try:
                new_state, transition = lifecycle.apply(state, command, workflow.now())
            except Refused as error:
                # Valid when validated, but another action got in first while we waited.
                raise _refusal(error) from None
            info = workflow.current_update_info()
            assert info is not None
            lifecycle.remember_request(new_state, info.id)
            await self._commit(new_state, transition)
            return new_state.view()

    async def _commit(self, state: UseCaseState, transition: Transition) -> None:
        """Adopt the new state and persist it with its queued notices; deliver them in the
        background so a slow or absent notification channel never holds up the lifecycle."""
        self._state = state
        self._wake = True
        await workflow.execute_activity(
            RECORD_ACTIVITY,
            RecordRequest(view=state.view(), transition=transition),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PERSIST_RETRY,
        )
        self._deliveries = [task for task in self._deliveries if not task.done()]
        if transition.notices:
            keys = [notice.key for notice in transition.notices]
            self._deliveries.append(self._deliver(DeliverRequest(use_case_id=state.id, notice_keys=keys)))

    def _deliver(self, request: DeliverRequest) -> Any:
        return workflow.start_activity(
            DELIVER_ACTIVITY,
            request,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=PERSIST_RETRY,
        )

    async def _settle(self) -> None:
        """Before this run ends: let every accepted Update finish and every delivery complete,
        including those an Update started while we waited, so nothing is lost or cut off."""
        if workflow.patched(DELIVERY_SWEEP_PATCH):
            # A notification channel that is down must not hold the run open: give deliveries a
            # grace period; the next run's sweep delivers whatever is left.
            await workflow.wait_condition(workflow.all_handlers_finished)
            try:
                await workflow.wait_condition(
                    lambda: all(task.done() for task in self._deliveries), timeout=DELIVERY_GRACE
                )
            except asyncio.TimeoutError:
                pass
            await workflow.wait_condition(workflow.all_handlers_finished)
            return
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            pending, self._deliveries = self._deliveries, []
            if pending:
                await asyncio.gather(*pending)
            if workflow.all_handlers_finished() and not self._deliveries:
                return

    async def _classify(self, intake: dict[str, Any]) -> ClassifyResult:
        return await workflow.execute_activity(
            CLASSIFY_ACTIVITY,
            ClassifyRequest(intake=intake),
            result_type=ClassifyResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["invalid"]),
        )
