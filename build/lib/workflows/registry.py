"""Every workflow the worker runs (and the replay test replays)."""

from workflows.checkpoint import DailyCheckpointWorkflow
from workflows.digest import DailyDigestWorkflow
from workflows.management_review import QuarterlyManagementReviewWorkflow
from workflows.nonconformity import NonconformityWorkflow
from workflows.soa import SoaWorkflow
from workflows.use_case import UseCaseWorkflow

WORKFLOWS = [
    UseCaseWorkflow, DailyDigestWorkflow, DailyCheckpointWorkflow, SoaWorkflow, NonconformityWorkflow,
    QuarterlyManagementReviewWorkflow,
]
