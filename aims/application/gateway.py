"""Commands to the workflows: start a use case with its intake, send it an action, change the
Statement of Applicability, and turn refusals into the API's errors. Reads never come here:
they go to the register."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from aims.domain.commands import Command
from aims.domain.intake import Intake
from aims.domain.messages import (
    ACT_UPDATE,
    NC_ACT_UPDATE,
    NC_OPEN_UPDATE,
    NC_WORKFLOW_TYPE,
    SOA_WORKFLOW_ID,
    SOA_WORKFLOW_TYPE,
    SYNC_UPDATE,
    WORKFLOW_TYPE,
    Ack,
    ClassifyResult,
    UseCaseInput,
    nonconformity_workflow_id,
    workflow_id,
)
from aims.domain.nonconformity import NcAck, NcCommand, NcInput
from aims.domain.soa import DecideSoa, ProposeSoa, SoaAck, SoaInput
from aims.application.errors import ServiceError

_REFUSAL_CODES = {"forbidden", "conflict", "invalid", "not_found"}
T = TypeVar("T")


def new_idempotency_key() -> str:
    """For a command sent without one: a retry with it (the API tells the caller) applies once."""
    return secrets.token_urlsafe(18)


def request_id(kind: str, use_case_id: str, caller: str, idempotency_key: str) -> str:
    """The Update id, derived from the caller's Idempotency-Key: a retry decides once."""
    digest = hashlib.sha256(f"{caller}\n{use_case_id}\n{idempotency_key}".encode()).hexdigest()[:32]
    return f"{kind}:{digest}"


def request_key(caller: str, idempotency_key: str) -> str:
    """What a record made by a request keeps, so that a repeat of the request finds it."""
    return hashlib.sha256(f"{caller}\n{idempotency_key}".encode()).hexdigest()[:32]


def use_case_id_for(caller: str, idempotency_key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aims:intake:{caller}:{idempotency_key}"))


class UseCaseGateway:
    def __init__(self, client: Client, task_queue: str, timeout_seconds: float = 10.0):
        self.client = client
        self.task_queue = task_queue
        self.timeout = timedelta(seconds=timeout_seconds)

    async def start(self, use_case_id: str, requester: str, intake: Intake, classified: ClassifyResult) -> Ack:
        """Start the use case's workflow and wait until its intake is in the register (one round trip)."""
        start = WithStartWorkflowOperation(
            WORKFLOW_TYPE,
            UseCaseInput(use_case_id=use_case_id, requester=requester, intake=intake, lean=True, classified=classified),
            id=workflow_id(use_case_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return await self._update_with_start(start, SYNC_UPDATE, None, f"created:{use_case_id}", Ack, "the intake")

    async def send(self, use_case_id: str, command: Command, update_id: str) -> Ack:
        handle = self.client.get_workflow_handle(workflow_id(use_case_id))
        try:
            return await handle.execute_update(
                ACT_UPDATE, command, id=update_id, result_type=Ack, rpc_timeout=self.timeout
            )
        except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as error:
            raise _mapped(error, command.kind.replace("_", " ")) from None

    async def soa(self, update: str, command: ProposeSoa | DecideSoa, update_id: str) -> SoaAck:
        """An Update to the Statement of Applicability's workflow (started on first use)."""
        return await self._start_and_update(
            SOA_WORKFLOW_TYPE, SOA_WORKFLOW_ID, SoaInput(), update, command, update_id, SoaAck,
            "the Statement of Applicability change",
        )  # fmt: skip

    async def open_nonconformity(self, number: int) -> NcAck:
        """Start the nonconformity's workflow and wait until it is open in the register."""
        return await self._start_and_update(
            NC_WORKFLOW_TYPE, nonconformity_workflow_id(number), NcInput(number=number), NC_OPEN_UPDATE, None,
            f"opened:{number}", NcAck, "the nonconformity",
        )  # fmt: skip

    async def act_on_nonconformity(self, number: int, command: NcCommand, update_id: str) -> NcAck:
        handle = self.client.get_workflow_handle(nonconformity_workflow_id(number))
        try:
            return await handle.execute_update(NC_ACT_UPDATE, command, id=update_id, result_type=NcAck,
                                               rpc_timeout=self.timeout)  # fmt: skip
        except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as error:
            raise _mapped(error, "the change", ended=f"nonconformity {number} is closed") from None

    async def _start_and_update(
        self, workflow_type: str, workflow_id: str, params: Any, update: str, arg: Any, update_id: str,
        result_type: type[T], what: str,
    ) -> T:  # fmt: skip
        start = WithStartWorkflowOperation(
            workflow_type, params, id=workflow_id, task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )  # fmt: skip
        return await self._update_with_start(start, update, arg, update_id, result_type, what)

    async def _update_with_start(
        self, start: WithStartWorkflowOperation[Any, Any], update: str, arg: Any, update_id: str,
        result_type: type[T], what: str,
    ) -> T:  # fmt: skip
        try:
            return await self.client.execute_update_with_start_workflow(
                update, *([] if arg is None else [arg]), start_workflow_operation=start, id=update_id,
                result_type=result_type, rpc_timeout=self.timeout,
            )  # fmt: skip
        except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as error:
            # The SDK fails the start operation's handle too: collect it, or asyncio logs "Future
            # exception was never retrieved" with the whole traceback for every refused start
            # (it is settled by now; the timeout only guards against an SDK that leaves it open).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(start.workflow_handle(), timeout=1)
            raise _mapped(error, what) from None


def _mapped(
    error: Exception, what: str, ended: str = "this use case's lifecycle has ended; it accepts no changes"
) -> ServiceError:
    if isinstance(error, WorkflowUpdateFailedError):
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSAL_CODES:
            return ServiceError(cause.type, cause.message)  # type: ignore[arg-type]
        return ServiceError("unavailable", f"{what} could not be applied")
    if isinstance(error, WorkflowUpdateRPCTimeoutOrCancelledError):  # no worker answered in time (none running?)
        return ServiceError("unavailable", f"{what} was sent, but the workflow did not answer in time; it may yet be applied")
    assert isinstance(error, RPCError)
    if namespace_missing(error):  # a deployment mistake, not the use case's state
        return ServiceError("unavailable", f"the workflow service refused: {error.message} (TEMPORAL_NAMESPACE)")
    if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.ALREADY_EXISTS):
        return ServiceError("conflict", ended)
    return unavailable()


def namespace_missing(error: RPCError) -> bool:
    """Temporal has no namespace of the name configured (TEMPORAL_NAMESPACE)."""
    details = error.grpc_status.details if error.status == RPCStatusCode.NOT_FOUND else []
    return any(detail.type_url.endswith(".NamespaceNotFoundFailure") for detail in details)


def unavailable() -> ServiceError:
    """Temporal cannot be reached: nothing was sent, the same request may be sent again."""
    return ServiceError("unavailable", "the workflow service is unavailable; try again shortly")
