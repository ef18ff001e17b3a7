"""Throughput and latency of whole lifecycles through the HTTP API, beside a minimal workflow.

    .venv/bin/python bench/lifecycle.py [-n 200] [--concurrency 20] [--workers 1] [--trace] [--json]

On the Temporal dev server, with the worker(s) and the API each in their own process as
deployed, drives N T2 use cases from intake to in_production (create, assessment, three gate
decisions, sign-off: six API calls, five workflow Updates each); in the same run a minimal
workflow takes the same number of Update round trips straight from a Temporal client, the two
taking turns (--rounds). Then the same at concurrency 1, for the latency of one decision.
Prints figures and ratios; with --json the last line is one JSON object. With --trace the
processes export their spans to the bench, which shows where a decision's time goes at
concurrency 1 (tracing costs a little, so take the figures from a run without it). With
--profile the worker and the API run under a sampling profiler, and the bench prints where their
Python time went over the whole run (the profiler takes CPU too: the figures are not comparable).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aims.persistence.db import migrate  # noqa: E402
from bench import profiles  # noqa: E402
from bench.cpu import CpuMeter, pids_matching, with_children  # noqa: E402
from bench.harness import RawConnection, aims_processes, command_line, dev_server, last_line, ms, percentile, scratch, stop, wait_until_ready  # noqa: E402
from bench.traces import SpanCollector, between, report  # noqa: E402
from tests import people  # noqa: E402
from tests.intakes import ASSESSMENT, SIGNOFF, code_assistant  # noqa: E402
from tests.net import free_port  # noqa: E402

DECISION = "POST /api/use-cases/{use_case_id}/gates/{gate_id}/decision"
UPDATE = "StartWorkflowUpdate:act"
PHASES = {
    "the decision's request": between(("start", DECISION), ("end", DECISION)),
    "request -> Update sent (sign-in, checks on the register)": between(("start", DECISION), ("start", UPDATE)),
    "Update sent -> the worker handles it": between(("start", UPDATE), ("start", "HandleUpdate:act")),
    "register write (local activity)": between(("start", "RunActivity:record_transition"),
                                               ("end", "RunActivity:record_transition")),
    "Update sent -> answered (round trip)": between(("start", UPDATE), ("end", UPDATE)),
    "Update answered -> response (the register read back)": between(("end", UPDATE), ("end", DECISION)),
}  # fmt: skip
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


class Clients:
    """Kept-alive connections to the API, one per concurrent lifecycle (a lean client: the bench
    measures aims, not an HTTP library)."""

    def __init__(self, port: int, tokens: dict[str, str]):
        self.port = port
        self.tokens = tokens
        self.idle: list[RawConnection] = []

    async def post(self, email: str, path: str, body: object) -> dict:
        headers = {"Authorization": f"Bearer {self.tokens[email]}", "Content-Type": "application/json"}
        content = json.dumps(body).encode()
        connection = self.idle.pop() if self.idle else await RawConnection.open(self.port)
        try:
            status, answer = await connection.post(path, content, headers)
        except ConnectionResetError:
            connection = await RawConnection.open(self.port)
            status, answer = await connection.post(path, content, headers)
        self.idle.append(connection)
        if status >= 400:
            raise RuntimeError(f"{path}: {status} {answer.decode()}")
        return json.loads(answer)

    def close(self) -> None:
        for connection in self.idle:
            connection.close()


async def one_lifecycle(api: Clients, decisions: list[float]) -> None:
    case = await api.post("req@example.com", "/api/use-cases", code_assistant())
    state = await api.post("owner@example.com", f"/api/use-cases/{case['id']}/assessment", ASSESSMENT)
    while state["status"] == "in_review":
        gate = next(g for g in state["gates"] if g["state"] == "open")
        started = time.perf_counter()
        state = await api.post(
            DECIDERS[gate["role"]], f"/api/use-cases/{case['id']}/gates/{gate['id']}/decision", {"decision": "approve"}
        )
        decisions.append(time.perf_counter() - started)
    state = await api.post("owner@example.com", f"/api/use-cases/{case['id']}/sign-off", SIGNOFF)
    assert state["status"] == "in_production", state["status"]


async def one_minimal(env: WorkflowEnvironment, steps: list[float]) -> None:
    handle = await env.client.start_workflow(MinimalWorkflow.run, id=f"minimal-{uuid.uuid4()}", task_queue="bench-minimal")
    for _ in range(5):
        started = time.perf_counter()
        await handle.execute_update(MinimalWorkflow.step)
        steps.append(time.perf_counter() - started)
    await handle.result()


async def bounded(count: int, concurrency: int, make: Callable[[], Awaitable[None]]) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def run_one() -> None:
        async with semaphore:
            await make()

    started = time.perf_counter()
    await asyncio.gather(*(run_one() for _ in range(count)))
    return time.perf_counter() - started


def _rounds(count: int, rounds: int) -> list[int]:
    """`count` split into `rounds` turns (the first ones one larger when it does not divide)."""
    rounds = max(1, min(rounds, count))
    return [count // rounds + (1 if turn < count % rounds else 0) for turn in range(rounds)]


def _add(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    return {name: total.get(name, 0.0) + seconds for name, seconds in more.items()}


async def main(
    count: int, concurrency: int, workers: int, database: str | None, as_json: bool, rounds: int = 4,
    trace: bool = False, profile: bool = False,
) -> None:
    logs = scratch()
    profile_directory = logs / "profile" if profile else None
    collector = SpanCollector(free_port()) if trace else None
    database_url = database or f"sqlite:///{logs}/bench.db"
    migrate(database_url)
    tokens = people.seed(database_url)
    env = await dev_server()
    port = free_port()
    task_queue = f"bench-{uuid.uuid4()}"
    temporal = env.client.service_client.config.target_host
    processes = aims_processes(
        temporal, database_url, task_queue, port, workers=workers, logs=logs,
        environment=collector.environment() if collector else None, profile=profile_directory,
    )  # fmt: skip
    try:
        async with env, Worker(env.client, task_queue="bench-minimal", workflows=[MinimalWorkflow]):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                await wait_until_ready(http)
            api = Clients(port, tokens)
            await bounded(3, 1, lambda: one_lifecycle(api, []))  # warm up both
            await bounded(3, 1, lambda: one_minimal(env, []))
            meter = CpuMeter({
                "worker": with_children(processes[0].pid),
                "api": with_children(processes[1].pid),
                "temporal": pids_matching("start-dev", f"--port {temporal.rsplit(':', 1)[1]}"),
                "bench": [os.getpid()],
            })  # fmt: skip
            minimal_meter = CpuMeter({"temporal": meter.groups["temporal"], "bench (worker + client)": [os.getpid()]})
            # aims and the minimal take turns, so a machine that speeds up or slows down during the
            # run (this 2-core one does, by tens of percent) shifts both sides of each ratio alike.
            decisions: list[float] = []
            steps: list[float] = []
            aims_seconds = minimal_seconds = 0.0
            cpu: dict[str, float] = {}
            minimal_cpu: dict[str, float] = {}
            round_ratios = []
            for size in _rounds(count, rounds):
                meter.start()
                aims_round = await bounded(size, concurrency, lambda: one_lifecycle(api, decisions))
                cpu = _add(cpu, meter.stop())
                minimal_meter.start()
                minimal_round = await bounded(size, concurrency, lambda: one_minimal(env, steps))
                minimal_cpu = _add(minimal_cpu, minimal_meter.stop())
                aims_seconds, minimal_seconds = aims_seconds + aims_round, minimal_seconds + minimal_round
                round_ratios.append(minimal_round / aims_round)
            single: list[float] = []
            single_steps: list[float] = []
            single_since = time.time()
            for size in _rounds(max(count // 10, 10), rounds):
                await bounded(size, 1, lambda: one_lifecycle(api, single))
                await bounded(size, 1, lambda: one_minimal(env, single_steps))
            api.close()
            if collector is not None:
                await report(collector, DECISION, PHASES, "the decision's request", "decision at concurrency 1",
                             since=single_since)  # fmt: skip
    finally:
        stop(processes)
        if collector is not None:
            collector.stop()

    results = {
        "lifecycles_per_s": round(count / aims_seconds, 2),
        "minimal_per_s": round(count / minimal_seconds, 2),
        "throughput_ratio": round(minimal_seconds / aims_seconds, 3),
        "decision_p50_ms": ms(percentile(single, 0.5)),
        "decision_p99_ms": ms(percentile(decisions, 0.99)),
        "minimal_p50_ms": ms(percentile(single_steps, 0.5)),
        "p50_ratio": round(percentile(single, 0.5) / percentile(single_steps, 0.5), 2),
        "concurrency": concurrency,
        "decision_p50_ms_at_concurrency": ms(percentile(decisions, 0.5)),
        "minimal_p50_ms_at_concurrency": ms(percentile(steps, 0.5)),
        "minimal_p99_ms_at_concurrency": ms(percentile(steps, 0.99)),
        "cpu_ms_per_lifecycle": {name: ms(seconds / count) for name, seconds in cpu.items()},
        "minimal_cpu_ms_per_run": {name: ms(seconds / count) for name, seconds in minimal_cpu.items()},
        "throughput_ratio_by_round": [round(ratio, 3) for ratio in round_ratios],
        "worker_processes": workers,
        "lifecycles": count,
        "database": database_url.split(":")[0],
    }
    print(f"lifecycles: {count}, concurrency {concurrency}, worker processes {workers}, database {results['database']}")
    print(f"aims lifecycles/s (intake -> in_production over HTTP): {results['lifecycles_per_s']:8.1f}  ({aims_seconds:.1f} s)")
    print(f"minimal workflow runs/s (5 Updates, no API, no DB):   {results['minimal_per_s']:8.1f}  ({minimal_seconds:.1f} s)")
    print(f"throughput ratio aims/minimal: {results['throughput_ratio']:.2f}  (target >= 0.5; by round, aims and "
          f"minimal taking turns: {', '.join(f'{ratio:.2f}' for ratio in round_ratios)})")
    print(f"at concurrency {concurrency}: decision p50 {results['decision_p50_ms_at_concurrency']} ms, p99 "
          f"{results['decision_p99_ms']} ms; minimal update p50 {results['minimal_p50_ms_at_concurrency']} ms, p99 "
          f"{results['minimal_p99_ms_at_concurrency']} ms")  # fmt: skip
    print("CPU per lifecycle: " + ", ".join(f"{name} {cpu} ms" for name, cpu in results["cpu_ms_per_lifecycle"].items()))
    print("CPU per minimal run: " + ", ".join(f"{name} {cpu} ms" for name, cpu in results["minimal_cpu_ms_per_run"].items()))
    print(f"at concurrency 1: decision p50 {results['decision_p50_ms']} ms, minimal update p50 "
          f"{results['minimal_p50_ms']} ms, ratio {results['p50_ratio']:.2f}x  (target <= 3)")  # fmt: skip
    for name in ("worker", "api") if profile_directory else ():
        print("\n".join(profiles.summary(profile_directory / f"{name}.txt")))
    last_line(results, as_json)


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("-n", "--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="aims worker processes")
    parser.add_argument("--database", default=None, help="a database URL (default: a new SQLite file)")
    parser.add_argument("--rounds", type=int, default=4, help="turns aims and the minimal take (default 4)")
    parser.add_argument("--trace", action="store_true", help="collect the processes' traces and show where a decision's time goes")
    parser.add_argument("--profile", action="store_true", help="profile the worker and the API, and show where their CPU goes")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.concurrency, arguments.workers, arguments.database, arguments.json,
                     arguments.rounds, arguments.trace, arguments.profile))  # fmt: skip
