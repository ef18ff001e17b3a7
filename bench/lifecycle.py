"""Throughput and latency of whole lifecycles through the HTTP API on the Temporal dev server.

    .venv/bin/python bench/lifecycle.py [-n 200] [--concurrency 20]

Drives N T2 use cases from intake to in_production (create, assessment, three gate
decisions, sign-off: six API calls, five workflow Updates each) and, in the same run, a
minimal workflow taking the same number of Update round trips straight from a Temporal
client. Prints lifecycles/s, p50/p99 of the decision call, and the ratios between the two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aims.persistence.db import migrate  # noqa: E402
from aims.runtime import binary  # noqa: E402
from aims.settings import Settings  # noqa: E402
from api.app import create_app  # noqa: E402
from tests import people  # noqa: E402
from tests.intakes import ASSESSMENT, SIGNOFF, code_assistant  # noqa: E402

DECIDERS = {"risk": "risk@example.com", "security": "security@example.com", "aims_owner": "aims@example.com"}


@workflow.defn(sandboxed=False)
class MinimalWorkflow:
    """The floor: a workflow that only counts Updates and persists nothing."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.count >= 5)
        return self.count

    @workflow.update
    async def step(self) -> int:
        self.count += 1
        return self.count


def start_worker_process(env: WorkflowEnvironment, database_url: str, task_queue: str) -> subprocess.Popen[bytes]:
    """The lifecycle worker in its own process, as in a split deployment (and off the API's GIL)."""
    environment = os.environ | {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "AIMS_DATABASE_URL": database_url,
        "AIMS_TASK_QUEUE": task_queue,
    }
    return subprocess.Popen([sys.executable, "-m", "aims.cli", "worker"], env=environment, stdout=subprocess.DEVNULL)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def one_lifecycle(http: httpx.AsyncClient, tokens: dict[str, str], decisions: list[float]) -> None:
    def auth(email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[email]}"}

    async def post(email: str, path: str, body: object) -> dict:
        response = await http.post(path, json=body, headers=auth(email))
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
        return response.json()

    case = await post("req@example.com", "/api/use-cases", code_assistant())
    state = await post("owner@example.com", f"/api/use-cases/{case['id']}/assessment", ASSESSMENT)
    while state["status"] == "in_review":
        gate = next(g for g in state["gates"] if g["state"] == "open")
        started = time.perf_counter()
        state = await post(
            DECIDERS[gate["role"]], f"/api/use-cases/{case['id']}/gates/{gate['id']}/decision", {"decision": "approve"}
        )
        decisions.append(time.perf_counter() - started)
    state = await post("owner@example.com", f"/api/use-cases/{case['id']}/sign-off", SIGNOFF)
    assert state["status"] == "in_production", state["status"]


async def one_minimal(env: WorkflowEnvironment, task_queue: str, steps: list[float]) -> None:
    handle = await env.client.start_workflow(MinimalWorkflow.run, id=f"minimal-{uuid.uuid4()}", task_queue=task_queue)
    for _ in range(5):
        started = time.perf_counter()
        await handle.execute_update(MinimalWorkflow.step)
        steps.append(time.perf_counter() - started)
    await handle.result()


async def bounded(count: int, concurrency: int, make) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def run_one() -> None:
        async with semaphore:
            await make()

    started = time.perf_counter()
    await asyncio.gather(*(run_one() for _ in range(count)))
    return time.perf_counter() - started


async def main(count: int, concurrency: int) -> None:
    database_url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    migrate(database_url)
    tokens = people.seed(database_url)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=pydantic_data_converter
    )
    task_queue = f"bench-{uuid.uuid4()}"
    settings = dataclasses.replace(Settings.from_env(), database_url=database_url, task_queue=task_queue)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, client=env.client), port=port, log_level="warning", lifespan="off")
    )
    async with env:
        worker = start_worker_process(env, database_url, task_queue)
        async with Worker(env.client, task_queue="bench-minimal", workflows=[MinimalWorkflow]):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
                decisions: list[float] = []
                aims_seconds = await bounded(count, concurrency, lambda: one_lifecycle(http, tokens, decisions))
            steps: list[float] = []
            minimal_seconds = await bounded(count, concurrency, lambda: one_minimal(env, "bench-minimal", steps))
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        worker.terminate()
        worker.wait(timeout=30)

    aims_rate, minimal_rate = count / aims_seconds, count / minimal_seconds
    print(f"lifecycles: {count}, concurrency {concurrency}, database {database_url.split(':')[0]}")
    print(f"aims lifecycles/s (intake -> in_production via HTTP API): {aims_rate:8.1f}  ({aims_seconds:.1f} s)")
    print(f"minimal workflow runs/s (5 Updates each, no API, no DB): {minimal_rate:8.1f}  ({minimal_seconds:.1f} s)")
    print(f"throughput ratio minimal/aims: {minimal_rate / aims_rate:.2f}x")
    p50, p99 = percentile(decisions, 0.5) * 1000, percentile(decisions, 0.99) * 1000
    m50, m99 = percentile(steps, 0.5) * 1000, percentile(steps, 0.99) * 1000
    print(f"decision call p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  (n={len(decisions)})")
    print(f"minimal update p50 {m50:7.1f} ms  p99 {m99:7.1f} ms  (n={len(steps)})")
    print(f"latency ratio aims/minimal: p50 {p50 / m50:.2f}x  p99 {p99 / m99:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.concurrency))
