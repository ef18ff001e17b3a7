"""Contracts between the API, the use case workflow and its activities: names and small typed
payloads. The workflow never ships a read model: it sends transitions and its slim state."""

from __future__ import annotations

from pydantic import BaseModel

from aims.domain.classification import Classification, classify, review_roles
from aims.domain.intake import Intake
from aims.domain.policy import Policy, Timing
from aims.domain.state import Routing, Status, Transition, UseCaseState

WORKFLOW_TYPE = "UseCaseLifecycle"
WORKFLOW_ID_PREFIX = "ai-use-case:"

ACT_UPDATE = "act"
SYNC_UPDATE = "sync"
STATE_QUERY = "state"
CLASSIFY_ACTIVITY = "classify_intake"
RECORD_ACTIVITY = "record_transition"
DELIVER_ACTIVITY = "deliver_notices"

DIGEST_WORKFLOW_TYPE = "DailyDigest"
DIGEST_ACTIVITY = "post_digest"
DIGEST_SCHEDULE_ID = "aims-daily-digest"
SOA_WORKFLOW_TYPE = "StatementOfApplicability"
SOA_WORKFLOW_ID = "aims-soa"
PROPOSE_SOA_UPDATE = "propose_soa"
DECIDE_SOA_UPDATE = "decide_soa"
RECORD_SOA_PROPOSAL_ACTIVITY = "record_soa_proposal"
RECORD_SOA_DECISION_ACTIVITY = "record_soa_decision"
RECORD_SOA_ESCALATION_ACTIVITY = "record_soa_escalation"
NC_WORKFLOW_TYPE = "Nonconformity"
NC_OPEN_UPDATE = "open_nonconformity"
NC_ACT_UPDATE = "act_on_nonconformity"
RECORD_NC_OPEN_ACTIVITY = "record_nc_open"
RECORD_NC_CHANGE_ACTIVITY = "record_nc_change"
RECORD_NC_ESCALATION_ACTIVITY = "record_nc_escalation"
MANAGEMENT_REVIEW_WORKFLOW_TYPE = "QuarterlyManagementReview"
MANAGEMENT_REVIEW_ACTIVITY = "schedule_management_review"
MANAGEMENT_REVIEW_SCHEDULE_ID = "aims-quarterly-management-review"
CHECKPOINT_WORKFLOW_TYPE = "DailyCheckpoint"
CHECKPOINT_ACTIVITY = "sign_checkpoint"
CHECKPOINT_SCHEDULE_ID = "aims-daily-checkpoint"


def workflow_id(use_case_id: str) -> str:
    return WORKFLOW_ID_PREFIX + use_case_id


class ClassifyRequest(BaseModel):
    intake: Intake


class ClassifyResult(BaseModel):
    classification: Classification
    routing: Routing
    timing: Timing

    @classmethod
    def of(cls, intake: Intake, policy: Policy) -> ClassifyResult:
        """The intake's category and tier, its gates, and the policy's deadlines."""
        classification = classify(intake, policy)
        review, final = review_roles(classification, intake, policy)
        return cls(
            classification=classification,
            routing=Routing(review_roles=review, final_role=final),
            timing=policy.timing(),
        )


class UseCaseInput(BaseModel):
    use_case_id: str
    requester: str
    intake: Intake | None = None
    # Set when continuing as new: the state carried over from the previous run.
    state: UseCaseState | None = None
    # Whether notices may be left undelivered by the previous run (true for runs started
    # before this field existed), so the new run sweeps them.
    sweep: bool = True
    # Set by the code that starts runs on the lean core (local activities for the register):
    # such a run need not ask `workflow.patched`, whose marker and search attribute cost every
    # new workflow two history events and a visibility write. Runs started before it ask.
    lean: bool = False
    # The intake classified by the API that took it, under the policy it serves: the run starts
    # without a classify activity. Runs started before this field existed classify in one.
    classified: ClassifyResult | None = None


class RecordRequest(BaseModel):
    state: UseCaseState
    transition: Transition


class RecordResult(BaseModel):
    written: bool
    # Notices waiting for an external channel; the workflow starts a delivery only for these.
    deliveries: int = 0


class DeliverRequest(BaseModel):
    """Send what waits for the channels on a topic: a use case (`use_case_id`; its closed gates'
    prompts are finalised too), or another topic (`topic`: the SoA, a nonconformity, a review)."""

    use_case_id: str = ""
    topic: str = ""
    # None: every undelivered notice of the topic (a new run sweeps what the last one left).
    notice_keys: list[str] | None = None

    @property
    def about(self) -> str:
        return self.topic or self.use_case_id


class Ack(BaseModel):
    """What an Update answers: where the use case stands; the register has the rest."""

    use_case_id: str
    status: Status
    version: int
    transition_number: int


def nonconformity_workflow_id(number: int) -> str:
    return f"nonconformity-{number}"
