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

from aims.application.gateway import UseCaseGateway
from aims.domain import nonconformity as nc
from aims.domain import soa
from aims.domain.messages import nonconformity_workflow_id, workflow_id
from aims.persistence import nonconformities as nc_records
from aims.persistence.db import migrate, transaction
from aims.persistence.soa import add_draft
from aims.cli import binary
from tests.conftest import worker_for
from tests import people
from tests.intakes import REVIEW_CONTINUE, changed, code_assistant, invoice_ocr
from tests.flow import Flow
from tests.people import AIMS, EXEC, OWNER, RISK, SECURITY
from tests.test_soa import full_soa

HISTORIES = Path(__file__).parent / "histories"
# Bump when recording after a workflow change; files of earlier versions stay and keep replaying.
RECORDING = "v6"


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

        # The AIMS as a whole (their notices go out since v4): a Statement of Applicability
        # proposed, reminded and approved; a nonconformity late, done, reopened and closed; the
        # quarterly management review put on the list.
        await record_governance(env, database_url)


async def record_governance(env: WorkflowEnvironment, database_url: str) -> None:
    now = await env.get_current_time()
    action = nc.CorrectiveAction(description="Keep logs 6 months", owner=OWNER.email, due_at=now + dt.timedelta(days=14))
    with transaction(database_url) as session:
        draft = add_draft(session, soa.SoaProposal.model_validate(full_soa()), AIMS.email, now, "recording").number
        raised = nc.RaiseNonconformity(source="audit_finding", description="Logs kept 3 months", action=action)
        number = nc_records.add_draft(session, raised, RISK.email, now, "recording").number
    statement = await env.client.start_workflow("StatementOfApplicability", soa.SoaInput(), id="soa-record",
                                                task_queue="record")  # fmt: skip
    await statement.execute_update("propose_soa", soa.ProposeSoa(actor=AIMS, draft=draft), result_type=soa.SoaAck)
    await env.sleep(dt.timedelta(days=3))  # a reminder to the executives
    decided = soa.DecideSoa(actor=EXEC, number=draft, decision="approve")
    await statement.execute_update("decide_soa", decided, result_type=soa.SoaAck)
    gateway = UseCaseGateway(env.client, "record")
    await gateway.open_nonconformity(number)
    await env.sleep(dt.timedelta(days=20))  # late: the ladder climbs to the executives
    done = nc.NcCommand(actor=OWNER, kind="complete", complete=nc.CompleteAction(note="Retention set"))
    await gateway.act_on_nonconformity(number, done, "done")
    closing = nc.CheckEffectiveness(effective=True, comment="Checked the settings")
    await gateway.act_on_nonconformity(number, nc.NcCommand(actor=AIMS, kind="check", check=closing), "check")
    await env.client.execute_workflow("QuarterlyManagementReview", id="review-record", task_queue="record",
                                      result_type=int)  # fmt: skip
    for name, workflow in (("soa", "soa-record"), ("nonconformity", nonconformity_workflow_id(number)),
                           ("management_review", "review-record")):  # fmt: skip
        history = await env.client.get_workflow_handle(workflow).fetch_history()
        (HISTORIES / f"{RECORDING}_{name}_run1.json").write_text(history.to_json())


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
