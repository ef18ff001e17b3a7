"""Record workflow histories for the replay test: `python -m tests.record_histories`.

Run it when the workflow changes in a way that is safe for running workflows (behind
`workflow.patched`), and keep the older files: replaying them proves the change is compatible.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aims.domain.messages import workflow_id
from aims.persistence.db import migrate
from aims.cli import binary
from tests.conftest import worker_for
from tests import people
from tests.intakes import REVIEW_CONTINUE, changed, code_assistant, invoice_ocr
from tests.flow import Flow
from tests.people import AIMS, RISK, SECURITY

HISTORIES = Path(__file__).parent / "histories"
# Bump when recording after a workflow change; files of earlier versions stay and keep replaying.
RECORDING = "v3"


async def record() -> None:
    database_url = f"sqlite:///{tempfile.mkdtemp()}/record.db"
    migrate(database_url)
    people.seed(database_url)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    async with env, worker_for(env.client, "record", database_url):
        flow = Flow(env, "record", database_url)

        # A T2 use case: changes requested, revised, approved, signed off, reviewed once, retired.
        await flow.start(code_assistant())
        await flow.assess()
        await flow.decide(RISK, "v1-review-risk", "request_changes", "Pin the model")
        await flow.revise(changed(code_assistant(), purpose="Pinned model"))
        await flow.assess()
        await flow.env.sleep(dt.timedelta(days=3))  # a reminder fires
        for who, gate in ((RISK, "v2-review-risk"), (SECURITY, "v2-review-security"), (AIMS, "v2-final-aims_owner")):
            await flow.decide(who, gate)
        state = await flow.sign_off()
        await flow.env.sleep(dt.datetime.fromisoformat(state["next_review_due"]) - await env.get_current_time())
        await flow.env.sleep(dt.timedelta(hours=1))
        state = await flow.review(REVIEW_CONTINUE)
        gate = next(g["id"] for g in state["gates"] if g["state"] == "open")
        await flow.decide(AIMS, gate)
        await flow.env.sleep(dt.timedelta(hours=1))  # the run continues as new
        await write_runs(env, flow.id, "t2_full_cycle")

        # A prohibited use case, rejected at intake.
        await flow.start(changed(invoice_ocr(), prohibited__social_scoring="yes"))
        await write_runs(env, flow.id, "prohibited")


async def write_runs(env: WorkflowEnvironment, use_case_id: str, name: str) -> None:
    """One file per run of the workflow (it continues as new after every review cycle)."""
    run_id: str | None = (await env.client.get_workflow_handle(workflow_id(use_case_id)).describe()).run_id
    runs = []
    while run_id:
        handle = env.client.get_workflow_handle(workflow_id(use_case_id), run_id=run_id)
        history = await handle.fetch_history()
        runs.append(history)
        first = history.events[0].workflow_execution_started_event_attributes
        run_id = first.continued_execution_run_id or None
    for index, history in enumerate(reversed(runs), start=1):
        (HISTORIES / f"{RECORDING}_{name}_run{index}.json").write_text(history.to_json())


if __name__ == "__main__":
    asyncio.run(record())
