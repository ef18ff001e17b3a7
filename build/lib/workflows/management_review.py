"""The quarterly management review, run by a Temporal Schedule: it puts the review of the
quarter just ended on top management's list (due within a month; late, it is in the stalled
view and the daily digest until an executive records the review's decisions)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.notices import GOVERNANCE_NOTICES_PATCH, NoticeSender
from workflows.register_writes import PERSIST_RETRY

with workflow.unsafe.imports_passed_through():
    from aims.domain import management_review as mr
    from aims.domain.messages import MANAGEMENT_REVIEW_ACTIVITY, MANAGEMENT_REVIEW_WORKFLOW_TYPE, DeliverRequest


@workflow.defn(name=MANAGEMENT_REVIEW_WORKFLOW_TYPE)
class QuarterlyManagementReviewWorkflow:
    @workflow.run
    async def run(self) -> int:
        """Returns the number of the review now due (the same one if the schedule fires twice)."""
        day = workflow.now().date().isoformat()
        number = await workflow.execute_activity(
            MANAGEMENT_REVIEW_ACTIVITY, day, result_type=int, start_to_close_timeout=timedelta(minutes=1),
            retry_policy=PERSIST_RETRY,
        )  # fmt: skip
        if workflow.patched(GOVERNANCE_NOTICES_PATCH):  # the AIMS owner and executives hear it is due
            notices = NoticeSender()
            notices.send(DeliverRequest(topic=mr.topic(number)))
            await notices.settle(None)
        return number
