"""The workflow side of the worker alone, measured without the machine's noise: recorded histories replayed.

    .venv/bin/python bench/replay.py [-n 200] [--rounds 5] [--json]

bench/lifecycle.py measures everything at once, on a machine whose speed drifts by tens of
percent between runs. This bench measures one part, with little noise: the CPU that the use
case workflow's activations cost. That covers decoding the jobs, applying the rules, encoding
and sealing the commands, and the SDK's own bookkeeping.

It replays the newest recorded T2 lifecycle (tests/histories) N times, as deployed:
unsandboxed, with aims' sealed converter. Beside it, it replays a minimal workflow's history
with five Updates, recorded on the dev server in this run, the same way. The two take turns.
No database and no activity run here: their results come from the history.

Prints CPU per replay and per Update for both, their ratio, and activations per Update; with
--json, the last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WithStartWorkflowOperation, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aims.cli.worker import workflow_runner  # noqa: E402
from aims.payloads import new_key, parse_keys, sealed_converter  # noqa: E402
from bench.harness import command_line, dev_server, last_line  # noqa: E402
from bench.lifecycle import MinimalWorkflow  # noqa: E402
from workflows.registry import WORKFLOWS  # noqa: E402

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"


def newest_lifecycle() -> Path:
    """The T2 lifecycle recorded by the newest workflow version (compared as numbers: v10 is newer than v6)."""
    return max(HISTORIES.glob("v*_t2_full_cycle_run1.json"), key=lambda path: int(path.name[1:].split("_", 1)[0]))


async def record_minimal() -> WorkflowHistory:
    env = await dev_server()
    async with env, Worker(env.client, task_queue="bench-replay-minimal", workflows=[MinimalWorkflow]):
        # Started with its first Update, as aims starts a use case: the first workflow task then
        # holds both every time (started apart, the Update may or may not make it into that task).
        start = WithStartWorkflowOperation(
            MinimalWorkflow.run, id="minimal", task_queue="bench-replay-minimal",
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )  # fmt: skip
        await env.client.execute_update_with_start_workflow(MinimalWorkflow.step, start_workflow_operation=start)
        handle = await start.workflow_handle()
        for _ in range(4):
            await handle.execute_update(MinimalWorkflow.step)
        await handle.result()
        return await handle.fetch_history()


def shape(history: WorkflowHistory) -> tuple[int, int]:
    """Updates, and activations: one per workflow task, one more per local activity's result."""
    count = {kind: 0 for kind in ("update", "task", "marker")}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            count["update"] += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            count["task"] += 1
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            count["marker"] += 1
    return count["update"], count["task"] + count["marker"]


async def cpu_per_replay(replayer: Replayer, history: WorkflowHistory, count: int) -> float:
    """CPU seconds of this process (every thread: Python and the SDK's core) per replay."""
    copies = [WorkflowHistory(f"{history.workflow_id}-{number}", history.events) for number in range(count)]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for copy in copies:
            yield copy

    started = time.process_time()
    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            if result.replay_failure:
                raise result.replay_failure
    return (time.process_time() - started) / count


async def main(count: int, rounds: int, as_json: bool) -> None:
    path = newest_lifecycle()
    aims_history = WorkflowHistory.from_json("ai-use-case:bench", path.read_text())
    minimal_history = await record_minimal()
    # Recorded histories are plaintext (tests/record_histories.py): opened as they are, and the
    # commands sealed as in production.
    aims = Replayer(
        workflows=WORKFLOWS, workflow_runner=workflow_runner(),
        data_converter=sealed_converter(parse_keys(new_key()), accept_plaintext=True),
    )  # fmt: skip
    minimal = Replayer(workflows=[MinimalWorkflow], data_converter=pydantic_data_converter)
    await cpu_per_replay(aims, aims_history, 3)  # warm up both
    await cpu_per_replay(minimal, minimal_history, 3)
    aims_seconds, minimal_seconds = [], []
    for _ in range(rounds):
        aims_seconds.append(await cpu_per_replay(aims, aims_history, count))
        minimal_seconds.append(await cpu_per_replay(minimal, minimal_history, count))

    aims_updates, aims_activations = shape(aims_history)
    minimal_updates, minimal_activations = shape(minimal_history)
    aims_replay, minimal_replay = statistics.median(aims_seconds), statistics.median(minimal_seconds)
    results = {
        "aims_ms_per_update": round(aims_replay / aims_updates * 1000, 2),
        "minimal_ms_per_update": round(minimal_replay / minimal_updates * 1000, 2),
        "update_cpu_ratio": round(aims_replay / aims_updates / (minimal_replay / minimal_updates), 2),
        "aims_activations_per_update": round(aims_activations / aims_updates, 2),
        "minimal_activations_per_update": round(minimal_activations / minimal_updates, 2),
        "aims_ms_per_activation": round(aims_replay / aims_activations * 1000, 2),
        "minimal_ms_per_activation": round(minimal_replay / minimal_activations * 1000, 2),
        "aims_replay_ms_by_round": [round(seconds * 1000, 2) for seconds in aims_seconds],
        "minimal_replay_ms_by_round": [round(seconds * 1000, 2) for seconds in minimal_seconds],
        "history": path.name,
        "replays": count,
    }
    print(f"{path.name}: {aims_updates} Updates, {aims_activations} activations; minimal: {minimal_updates} Updates, "
          f"{minimal_activations} activations; {count} replays a round, {rounds} rounds (median)")  # fmt: skip
    for side, replay in (("aims", aims_replay), ("minimal", minimal_replay)):
        print(f"{side:7} CPU per replay {replay * 1000:6.2f} ms, per Update {results[f'{side}_ms_per_update']:5.2f} ms, "
              f"per activation {results[f'{side}_ms_per_activation']:4.2f} ms")  # fmt: skip
    print(f"per Update aims/minimal: {results['update_cpu_ratio']:.2f}x  (activations per Update "
          f"{results['aims_activations_per_update']} vs {results['minimal_activations_per_update']})")  # fmt: skip
    last_line(results, as_json)


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("-n", "--count", type=int, default=200, help="replays a round (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="turns aims and the minimal take (default 5)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.rounds, arguments.json))
