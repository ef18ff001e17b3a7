"""A worker process killed mid-lifecycle and replaced loses nothing and duplicates nothing; an API
without Temporal answers what it can and refuses the rest plainly."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import importlib
import inspect
import os
import pkgutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

import activities
from activities.channels import Delivery, GateSummary, Home, Recipient, StalledItem, UseCaseSummary
from aims.persistence import chains, users
from aims.persistence.db import transaction
from aims.persistence.models import Delivery as DeliveryRow
from aims.persistence.models import Notification
from api.app import create_app
from api.web import session as web_session
from tests import people
from tests.conftest import worker_for
from tests.intakes import ASSESSMENT, SIGNOFF, code_assistant
from tests.net import free_port
from tests.test_api import AIMS, OWNER, REQ, RISK, SECURITY, Api, settings_for


def start_worker(dev_env: WorkflowEnvironment, database_url: str, task_queue: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "AIMS_DATABASE_URL": database_url,
        "AIMS_TASK_QUEUE": task_queue,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aims.cli", "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


async def wait_until_polling(worker: subprocess.Popen[bytes]) -> None:
    assert worker.stdout is not None
    line = await asyncio.to_thread(worker.stdout.readline)
    assert b"worker polling" in line, line


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, database_url: str, task_queue: str) -> AsyncIterator[Api]:
    tokens = people.seed(database_url)
    app = create_app(settings_for(database_url, task_queue), client=dev_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
        yield Api(http, tokens)


async def test_killed_worker_loses_nothing(api: Api, dev_env: WorkflowEnvironment, database_url: str, task_queue: str):
    first = start_worker(dev_env, database_url, task_queue)
    await wait_until_polling(first)
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    first.send_signal(signal.SIGKILL)
    first.wait()

    # The decision is sent while no worker runs, without an Idempotency-Key: the API answers 503
    # naming the key that repeats it safely, and the caller retries with it until a new worker
    # has applied it, once.
    path = f"/api/use-cases/{uc}/gates/v1-review-risk/decision"
    response = await api.post(RISK, path, {"decision": "approve"})
    assert response.status_code == 503 and response.headers["retry-after"] == "5", response.text
    key = response.headers["idempotency-key"]
    assert response.json()["detail"]["idempotency_key"] == key
    assert f"did not answer in time; it may yet be applied; to repeat it safely, send it again with the header Idempotency-Key: {key}" in response.text
    second = start_worker(dev_env, database_url, task_queue)
    try:
        await wait_until_polling(second)
        for _ in range(10):
            response = await api.post(RISK, path, {"decision": "approve"}, key=key)
            if response.status_code != 503:
                break
        assert response.status_code == 200, response.text
        await api.decide(SECURITY, uc, "v1-review-security")
        await api.decide(AIMS, uc, "v1-final-aims_owner")
        state = await api.ok(OWNER, f"/api/use-cases/{uc}/sign-off", SIGNOFF)
        assert state["status"] == "in_production"
    finally:
        second.terminate()
        second.wait(timeout=30)

    trail = (await api.get(AIMS, f"/api/use-cases/{uc}/audit")).json()
    assert trail["verified"]
    decided = [e["data"]["gate_id"] for e in trail["events"] if e["type"] == "gate_decided"]
    assert decided == ["v1-review-risk", "v1-review-security", "v1-final-aims_owner"]
    notices = (await api.get(RISK, "/api/notifications")).json()
    keys = [n["subject"] for n in notices if n["use_case_id"] == uc]
    assert len(keys) == len(set(keys))


async def test_with_temporal_down_reads_work_and_commands_get_503_and_retry_after(database_url: str):
    """Temporal not started yet, or restarting: the register still answers, and a command is
    refused with 503 and when to try again (it was a 500), changing nothing."""
    tokens = people.seed(database_url)
    nowhere = dataclasses.replace(settings_for(database_url, "unused"), temporal_address=f"127.0.0.1:{free_port()}")
    transport = httpx.ASGITransport(app=create_app(nowhere))
    async with httpx.AsyncClient(transport=transport, base_url="http://aims.test") as http:
        api = Api(http, tokens)
        before = (await api.get(AIMS, "/api/use-cases")).json()["total"]
        for _ in range(2):  # and again: each command tries to connect, none is left waiting
            response = await api.post(REQ, "/api/use-cases", code_assistant())
            assert response.status_code == 503 and response.headers["retry-after"] == "5", response.text
            assert response.json()["detail"]["error"] == "unavailable"
        again = await api.post(REQ, "/api/use-cases", code_assistant(), key=response.headers["idempotency-key"])
        assert again.status_code == 503 and again.headers["idempotency-key"] == response.headers["idempotency-key"]
        assert (await api.get(AIMS, "/api/use-cases")).json()["total"] == before


async def test_a_namespace_temporal_does_not_have_is_named_not_taken_for_an_ended_use_case(
    dev_env: WorkflowEnvironment, database_url: str, caplog: pytest.LogCaptureFixture
):
    tokens = people.seed(database_url)
    elsewhere = dataclasses.replace(
        settings_for(database_url, "unused"), temporal_address=dev_env.client.service_client.config.target_host,
        temporal_namespace="no-such-namespace",
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(elsewhere))
    async with httpx.AsyncClient(transport=transport, base_url="http://aims.test") as http:
        response = await Api(http, tokens).post(REQ, "/api/use-cases", code_assistant())
    assert response.status_code == 503, response.text  # was 409 "this use case's lifecycle has ended"
    assert "no-such-namespace" in response.json()["detail"]["message"] and "TEMPORAL_NAMESPACE" in response.text
    gc.collect()  # a failed start must leave no future whose exception nobody read
    assert not [r for r in caplog.records if r.name == "asyncio" and "never retrieved" in r.getMessage()]


async def test_with_the_database_down_requests_get_503_and_retry_after_not_500(database_url: str):
    """PostgreSQL down or restarting: the API and the pages say so and when to try again."""
    nowhere = dataclasses.replace(
        settings_for(database_url, "unused"), database_url=f"postgresql+psycopg://aims@127.0.0.1:{free_port()}/aims"
    )
    transport = httpx.ASGITransport(app=create_app(nowhere))
    async with httpx.AsyncClient(transport=transport, base_url="http://aims.test") as http:
        response = await http.get("/api/me", headers={"Authorization": "Bearer some-token"})
        assert response.status_code == 503 and response.headers["retry-after"] == "5", response.text
        detail = response.json()["detail"]
        assert detail == {"error": "unavailable", "message": "the database is unavailable; try again shortly"}
        form = await http.get("/sign-in")  # needs no database
        csrf = form.cookies[web_session.SIGN_IN_COOKIE]
        page = await http.post("/sign-in", data={"token": "some-token", "csrf": csrf})
        assert page.status_code == 503 and "the database is unavailable" in page.text


def activity_definitions() -> list[activity._Definition]:
    """Every activity the `activities` package declares (they are methods of its classes)."""
    modules = [importlib.import_module(m.name) for m in pkgutil.iter_modules(activities.__path__, "activities.")]
    members = [member for module in modules for _, cls in inspect.getmembers(module, inspect.isclass)
               for member in vars(cls).values() if callable(member)]  # fmt: skip
    return [definition for member in members if (definition := activity._Definition.from_callable(member))]


def test_a_row_added_once_leaves_with_the_unit_of_work_it_was_added_in(database_url: str):
    """On SQLite the savepoint `add_once` opened before any write was the outermost one, and
    releasing it committed: the rest of the unit of work (here, the person's audit event) was no
    longer in one transaction with the row, and two admins at once broke the system chain."""
    email = f"atomic-{uuid.uuid4().hex[:6]}@example.com"
    with pytest.raises(RuntimeError), transaction(database_url) as session:
        users.add_user_once(session, email=email, name="Atomic", roles=[], now=dt.datetime.now(dt.UTC), by="test",
                            expires=None, request_key=uuid.uuid4().hex)  # fmt: skip
        raise RuntimeError("the rest of the unit of work failed")
    with transaction(database_url) as session:
        assert users.user_by_email(session, email) is None


def test_events_appended_to_one_chain_at_the_same_moment_all_land_in_order(database_url: str):
    """Two evidence exports at once, say: on SQLite each read the chain's head before its
    transaction began (pysqlite begins at the first write), both took the same place, and one
    failed with a 500 and lost its event (30 rounds of 30 before the fix)."""
    chain_id = f"race-{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    event = lambda actor: chains.NewEvent(type="exported", actor=actor, at=now, version=0, data={})  # noqa: E731
    with transaction(database_url) as session:
        chains.append(session, chain_id, [event("first")], now)
    for round_ in range(10):
        barrier, errors = threading.Barrier(2), []

        def append(actor: str) -> None:
            barrier.wait()
            try:
                with transaction(database_url) as session:
                    chains.append(session, chain_id, [event(actor)], now)
            except Exception as error:  # noqa: BLE001 - the test reports what the race raised
                errors.append(error)

        racers = [threading.Thread(target=append, args=(f"{round_}-{side}",)) for side in "ab"]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert errors == []
    with transaction(database_url) as session:
        check = chains.verify(session, chain_id)
    assert check.verified and check.length == 21


def test_every_activity_runs_to_its_end_once_started():
    names = {definition.name: definition.no_thread_cancel_exception for definition in activity_definitions()}
    assert len(names) >= 12 and all(names.values()), names


class HeldChannel:
    """A channel whose first send is still going on when the worker is told to stop."""

    name = "email"

    def __init__(self) -> None:
        self.sending = threading.Event()
        self.sent: list[str] = []

    def deliver(self, delivery: Delivery) -> str | None:
        if not self.sent:
            self.sending.set()
            activity.wait_for_cancelled_sync(timeout=10)  # the worker's shutdown cancels it
        self.sent.append(f"<{delivery.notice_key}@aims.test>")
        return self.sent[-1]

    def finalize(self, reference: str, use_case: UseCaseSummary, gate: GateSummary) -> None:
        pass

    def digest(self, day: str, items: list[StalledItem]) -> str | None:
        return None

    def personal_digest(self, day: str, recipient: Recipient, deliveries: list[Delivery]) -> str | None:
        return None

    def refresh(self, recipient: Recipient, home: Home) -> None:
        pass


async def test_a_worker_stopping_mid_send_finishes_and_records_it(
    api: Api, dev_env: WorkflowEnvironment, database_url: str, task_queue: str
):
    """A cancelled activity runs to its end (activities.definition): the send is recorded, not
    rolled back to be sent again by the next worker, and the shutdown does not hang."""
    channel = HeldChannel()
    worker = worker_for(dev_env.client, task_queue, database_url, [channel])
    running = asyncio.create_task(worker.run())
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await asyncio.to_thread(channel.sending.wait, 15)
    await asyncio.wait_for(worker.shutdown(), 30)
    await running
    assert channel.sent, "the held send finished"
    with transaction(database_url) as session:
        rows = session.scalars(
            select(DeliveryRow).join(DeliveryRow.notification).where(Notification.use_case_id == uc)
        ).all()
        recorded = [row.reference for row in rows if row.delivered_at]
    assert sorted(recorded) == sorted(channel.sent) and len(set(channel.sent)) == len(channel.sent)
