"""The API's side of the lifecycle workflow: start it, send it Updates, map its refusals."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from aims.domain.messages import WORKFLOW_TYPE, LifecycleInput, workflow_id
from api.errors import ServiceError

_REFUSAL_CODES = {"forbidden", "conflict", "invalid", "not_found"}


def request_id(kind: str, use_case_id: str, caller: str, idempotency_key: str | None) -> str:
    """The Update id: derived from the caller's Idempotency-Key (a retry decides once), else unique."""
    if idempotency_key is None:
        return f"{kind}:{uuid.uuid4()}"
    digest = hashlib.sha256(f"{caller}\n{use_case_id}\n{idempotency_key}".encode()).hexdigest()[:32]
    return f"{kind}:{digest}"


def use_case_id_for(caller: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aims:intake:{caller}:{idempotency_key}"))


class LifecycleClient:
    def __init__(self, client: Client, task_queue: str, timeout_seconds: float = 10.0):
        self.client = client
        self.task_queue = task_queue
        self.timeout = timeout_seconds

    async def start(self, use_case_id: str, requester: str, intake: dict[str, Any]) -> dict[str, Any]:
        try:
            await self.client.start_workflow(
                WORKFLOW_TYPE,
                LifecycleInput(use_case_id=use_case_id, requester=requester, intake=intake),
                id=workflow_id(use_case_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass  # the same Idempotency-Key again: answer with the use case it created
        return await self.update(use_case_id, "sync", None, f"sync:{uuid.uuid4()}")

    async def update(self, use_case_id: str, name: str, argument: Any, update_id: str) -> dict[str, Any]:
        handle = self.client.get_workflow_handle(workflow_id(use_case_id))
        args = [] if argument is None else [argument]
        try:
            return await handle.execute_update(
                name, args=args, id=update_id, result_type=dict, rpc_timeout=timedelta(seconds=self.timeout)
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type in _REFUSAL_CODES:
                raise ServiceError(cause.type, cause.message) from None  # type: ignore[arg-type]
            raise ServiceError("unavailable", f"the lifecycle failed to apply {name}: {cause}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise ServiceError(
                "unavailable",
                f"{name} was accepted but is still being processed; repeat it with the same Idempotency-Key",
            ) from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ServiceError("conflict", "this use case's lifecycle has ended; it accepts no changes") from None
            raise ServiceError("unavailable", f"the workflow service is unavailable: {error.message}") from None
