"""The daily signed checkpoint of every audit chain, run by a Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from aims.domain.messages import CHECKPOINT_ACTIVITY, CHECKPOINT_WORKFLOW_TYPE


@workflow.defn(name=CHECKPOINT_WORKFLOW_TYPE)
class DailyCheckpointWorkflow:
    @workflow.run
    async def run(self) -> int:
        """Signs today's heads (once a day, whatever the retries); returns how many chains it covers."""
        day = workflow.now().date().isoformat()
        return await workflow.execute_activity(
            CHECKPOINT_ACTIVITY,
            day,
            result_type=int,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), maximum_attempts=50),
        )
