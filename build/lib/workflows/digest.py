"""The daily digest to the governance channel, run by a Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from aims.domain.messages import DIGEST_ACTIVITY, DIGEST_WORKFLOW_TYPE


@workflow.defn(name=DIGEST_WORKFLOW_TYPE)
class DailyDigestWorkflow:
    @workflow.run
    async def run(self) -> int:
        """Posts stalled gates and overdue reviews; returns how many items it listed."""
        day = workflow.now().date().isoformat()
        return await workflow.execute_activity(
            DIGEST_ACTIVITY,
            day,
            result_type=int,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=20),
        )
