"""Wiring a worker: the workflows, their activities and the notification channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleSpec
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner, SandboxRestrictions

from activities.channels import Channel
from activities.checkpoint import CheckpointActivities
from activities.delivery import DeliveryActivities
from activities.digest import DigestActivities
from activities.foreground import Foreground
from activities.management_review import ManagementReviewActivities
from activities.nonconformity import NonconformityActivities
from activities.register import RegisterActivities
from activities.soa import SoaActivities
from aims.connection import connect
from aims.domain.messages import (
    CHECKPOINT_SCHEDULE_ID,
    CHECKPOINT_WORKFLOW_TYPE,
    DIGEST_SCHEDULE_ID,
    DIGEST_WORKFLOW_TYPE,
    MANAGEMENT_REVIEW_SCHEDULE_ID,
    MANAGEMENT_REVIEW_WORKFLOW_TYPE,
)
from aims.domain.policy import Policy
from aims.observability import serve_metrics
from aims.settings import Settings, current_policy
from workflows.registry import WORKFLOWS

log = logging.getLogger(__name__)


def workflow_runner() -> SandboxedWorkflowRunner:
    # The domain is pure and deterministic; pass it through instead of re-importing it per run.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("aims.domain", "pydantic", "opentelemetry")
    )


def channels_for(settings: Settings) -> list[Channel]:
    """The notification channels configured; with none, the inbox (GET /api/notifications) is all."""
    channels: list[Channel] = []
    if settings.slack_enabled:
        from notifications.slack.channel import SlackChannel

        channels.append(SlackChannel(settings))
    if settings.smtp is not None:
        from notifications.email.channel import EmailChannel

        channels.append(EmailChannel(settings.smtp, settings.public_url))
    return channels


def use_case_worker(
    client: Client,
    *,
    task_queue: str,
    database_url: str,
    policy: Policy,
    channels: Sequence[Channel] = (),
    public_url: str = "http://127.0.0.1:8000",
    signing_key_file: Path | None = None,
    max_register_writes: int = 4,
    max_outside_work: int = 4,
    sandbox_every_workflow: bool = False,
) -> Worker:
    """The worker for every aims workflow and activity (checkpoints need the signing key).
    `sandbox_every_workflow` runs the unsandboxed use case workflow in the sandbox too, and fails
    a workflow that reaches for something non-deterministic instead of retrying its task: tests
    do, so such a call fails there, before production runs it unsandboxed."""
    names = [channel.name for channel in channels]
    foreground = Foreground()  # register writes before the channels' work, in this process
    register = RegisterActivities(database_url, policy, channels=names, foreground=foreground)
    delivery = DeliveryActivities(database_url, channels, public_url, foreground=foreground)
    digest = DigestActivities(database_url, channels, public_url)
    statement = SoaActivities(database_url, policy, names)
    corrective = NonconformityActivities(database_url, policy, names)
    reviews = ManagementReviewActivities(database_url, names)
    activities: list[Any] = [
        register.classify_intake, register.record_transition, delivery.deliver_notices, digest.post_digest,
        statement.record_proposal, statement.record_decision, statement.record_escalation,
        corrective.record_open, corrective.record_change, corrective.record_escalation,
        reviews.schedule_management_review,
    ]  # fmt: skip
    if signing_key_file is not None:
        activities.append(CheckpointActivities(database_url, signing_key_file).sign_checkpoint)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        # A thread for each: register writes (local activities, an Update waits on each) and
        # outside work (channels, digests: nobody waits on it), so a slow channel never holds a
        # register write. A few of each: more threads only queue on one GIL (and SQLite's one
        # writer): bench/lifecycle.py at concurrency 20 used about a tenth less worker CPU with 4 than 16.
        activity_executor=ThreadPoolExecutor(max_register_writes + max_outside_work),
        # Activations are Python under one GIL: more than two threads only take turns (the SDK's
        # default allows up to 500). bench/lifecycle.py: as fast or a little faster, never slower.
        workflow_task_executor=ThreadPoolExecutor(2, thread_name_prefix="temporal_workflow_"),
        max_concurrent_activities=max_outside_work,
        max_concurrent_local_activities=max_register_writes,
        workflow_runner=workflow_runner(),
        unsandboxed_workflow_runner=workflow_runner() if sandbox_every_workflow else UnsandboxedWorkflowRunner(),
        workflow_failure_exception_types=[RestrictedWorkflowAccessError] if sandbox_every_workflow else [],
    )


async def ensure_schedule(
    client: Client, schedule_id: str, workflow_type: str, cron: str, task_queue: str, *, run_now: bool = False
) -> None:
    """Create a Schedule once (running it at once when `run_now`); an existing one (maybe edited
    in the UI) is kept."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(workflow_type, id=schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )
    try:
        await client.create_schedule(schedule_id, schedule, trigger_immediately=run_now)
    except ScheduleAlreadyRunningError:
        pass


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    if settings.metrics_port and settings.metrics_token:  # settings refuse a port without a token
        serve_metrics(settings.metrics_port, settings.metrics_address, settings.metrics_token)
    client = await connect_when_reachable(settings, stop)
    if client is None:  # stopped while waiting
        return
    channels = channels_for(settings)
    if channels:
        await ensure_schedule(client, DIGEST_SCHEDULE_ID, DIGEST_WORKFLOW_TYPE, settings.digest_cron, settings.task_queue)
    await ensure_schedule(
        client, MANAGEMENT_REVIEW_SCHEDULE_ID, MANAGEMENT_REVIEW_WORKFLOW_TYPE, settings.management_review_cron,
        settings.task_queue,
    )  # fmt: skip
    # A new installation gets its first checkpoint now, not at the next scheduled time.
    await ensure_schedule(
        client, CHECKPOINT_SCHEDULE_ID, CHECKPOINT_WORKFLOW_TYPE, settings.checkpoint_cron, settings.task_queue,
        run_now=True,
    )  # fmt: skip
    worker = use_case_worker(
        client,
        task_queue=settings.task_queue,
        database_url=settings.database_url,
        policy=current_policy(),
        channels=channels,
        public_url=settings.public_url,
        signing_key_file=settings.signing_key_file,
    )
    async with worker:
        print(f"worker polling {settings.task_queue} on {settings.temporal_address}", flush=True)
        await stop.wait()


async def connect_when_reachable(settings: Settings, stop: asyncio.Event, longest_wait: float = 30) -> Client | None:
    """Temporal may come up after the worker (a compose start, a restart of the server): wait for
    it, saying so, instead of ending with a traceback. None if stopped meanwhile."""
    wait = 1.0
    while True:
        try:
            return await connect(settings)
        except RuntimeError as error:  # how the SDK's connect fails
            log.warning("waiting for Temporal at %s (%s); trying again in %.0f s", settings.temporal_address, error, wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
            return None
        wait = min(wait * 2, longest_wait)
