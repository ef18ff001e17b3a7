"""How a workflow hands its notices to the channels: a delivery activity started in the
background (a slow or absent channel never holds up the process), settled before the run ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.register_writes import PERSIST_RETRY

with workflow.unsafe.imports_passed_through():
    from aims.domain.messages import DELIVER_ACTIVITY, DeliverRequest

# Changes to running workflows that send notices (replay): the SoA, nonconformity and management
# review workflows started sending theirs with this.
GOVERNANCE_NOTICES_PATCH = "governance-notices"


class NoticeSender:
    def __init__(self) -> None:
        self._deliveries: list[Any] = []

    def send(self, request: DeliverRequest) -> None:
        self._deliveries = [task for task in self._deliveries if not task.done()]
        self._deliveries.append(
            workflow.start_activity(
                DELIVER_ACTIVITY, request, start_to_close_timeout=timedelta(minutes=2), retry_policy=PERSIST_RETRY
            )
        )

    def finished(self) -> bool:
        return all(task.done() for task in self._deliveries)

    async def settle(self, grace: timedelta | None) -> bool:
        """Wait for the deliveries started so far, and any started meanwhile (at most `grace`);
        True if every one finished."""
        try:
            await workflow.wait_condition(self.finished, timeout=grace)
        except asyncio.TimeoutError:
            return False
        return True
