"""Recorded histories replay against today's workflow code: a change that would break
running workflows (non-determinism) fails here before it ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from aims.cli.worker import workflow_runner
from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded():
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("sandboxed", [False, True], ids=["as-deployed", "all-sandboxed"])
@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_replay(path: Path, sandboxed: bool):
    """As production runs them (the use case workflow unsandboxed), and every workflow in the
    sandbox, whose restrictions catch a non-deterministic call."""
    runners = {"unsandboxed_workflow_runner": workflow_runner()} if sandboxed else {}
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=workflow_runner(), **runners
    )
    history = WorkflowHistory.from_json(f"ai-use-case:{path.stem}", path.read_text())
    await replayer.replay_workflow(history)
