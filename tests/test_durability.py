"""A worker process killed mid-lifecycle and replaced loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests import people
from tests.intakes import ASSESSMENT, SIGNOFF, code_assistant
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

    # The decision is sent while no worker runs: the API answers 503 and the caller retries
    # with the same Idempotency-Key until a new worker has applied it, once.
    path = f"/api/use-cases/{uc}/gates/v1-review-risk/decision"
    decision = asyncio.create_task(api.post(RISK, path, {"decision": "approve"}, key="k1"))
    await asyncio.sleep(0.5)
    assert not decision.done()
    second = start_worker(dev_env, database_url, task_queue)
    try:
        await wait_until_polling(second)
        response = await decision
        for _ in range(10):
            if response.status_code != 503:
                break
            response = await api.post(RISK, path, {"decision": "approve"}, key="k1")
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
