"""Contracts between the API, the lifecycle workflow and its activities (names and payloads)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from aims.domain.classification import Classification
from aims.domain.lifecycle import Routing, Transition, UseCaseState
from aims.domain.policy import Timing

WORKFLOW_TYPE = "UseCaseLifecycle"
WORKFLOW_ID_PREFIX = "ai-use-case:"

CLASSIFY_ACTIVITY = "classify_intake"
RECORD_ACTIVITY = "record_transition"
DELIVER_ACTIVITY = "deliver_notices"


def workflow_id(use_case_id: str) -> str:
    return WORKFLOW_ID_PREFIX + use_case_id


class LifecycleInput(BaseModel):
    use_case_id: str
    requester: str
    intake: dict[str, Any] | None = None
    # Set when continuing as new: the state carried over from the previous run.
    state: UseCaseState | None = None


class ClassifyRequest(BaseModel):
    intake: dict[str, Any]


class ClassifyResult(BaseModel):
    classification: Classification
    routing: Routing
    timing: Timing


class RecordRequest(BaseModel):
    view: dict[str, Any]
    transition: Transition


class DeliverRequest(BaseModel):
    use_case_id: str
    # None: every undelivered notice of the use case (a new run sweeps what the last one left).
    notice_keys: list[str] | None = None

DIGEST_WORKFLOW_TYPE = "DailyDigest"
DIGEST_ACTIVITY = "post_digest"
DIGEST_SCHEDULE_ID = "aims-daily-digest"
