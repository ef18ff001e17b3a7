"""The Statement of Applicability: a governed document. Proposed by the AIMS owner, decided by
another person with the executive role under the gates' ladder, every approved version kept;
read as JSON, CSV, PDF and a page."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from aims.domain import soa
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.state import Actor, Refused
from aims.persistence import chains, queries, users
from aims.persistence.db import migrate, transaction
from aims.persistence.models import SoaProposal
from aims.persistence.soa import SOA_CHAIN, add_draft
from aims.settings import current_policy
from tests.conftest import repo_root, worker_for
from tests.intakes import ASSESSMENT, code_assistant
from tests.test_api import AIMS, OWNER, REQ, RISK, Api, api  # noqa: F401 - `api` is the fixture
from tests.test_evidence import ink, rasterised

EXEC = "exec@example.com"


def full_soa(note: str = "first version", excluded: tuple[str, ...] = ("A.10.4",)) -> dict[str, Any]:
    entries = []
    for control in ANNEX_A_CONTROLS:
        if control in excluded:
            entries.append({"control": control, "applicable": False, "justification": "We have no customers of AI"})
        else:
            entries.append({"control": control, "applicable": True, "justification": f"Needed for {control}",
                            "implementation": "partial", "owner": "aims@example.com",
                            "evidence": [f"https://wiki.example.com/{control}"]})  # fmt: skip
    return {"entries": entries, "note": note}


# ---------------------------------------------------------------- the rules


def test_a_proposal_names_every_control_once_and_justifies_each():
    soa.SoaProposal.model_validate(full_soa())
    short = full_soa()
    short["entries"] = short["entries"][1:] + [short["entries"][1]]
    with pytest.raises(ValidationError, match="missing: A.2.2"):
        soa.SoaProposal.model_validate(short)
    for change, message in (
        ({"justification": ""}, "at least 1 character"),
        ({"owner": None}, "give its implementation status and owner"),
        ({"applicable": False}, "excluded: it has no implementation status"),
    ):
        bad = full_soa()
        bad["entries"][0] |= change
        with pytest.raises(ValidationError, match=message):
            soa.SoaProposal.model_validate(bad)
    with pytest.raises(ValidationError, match="say why"):
        soa.SoaDecision(decision="reject")


def test_who_may_propose_and_decide():
    owner, executive = Actor(email="o@x.com", roles=["aims_owner"]), Actor(email="e@x.com", roles=["executive"])
    both = Actor(email="b@x.com", roles=["aims_owner", "executive"])
    soa.may_propose(owner, None)
    with pytest.raises(Refused, match="AIMS owner proposes"):
        soa.may_propose(executive, None)
    pending = soa.pending_for(3, both.email, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), current_policy())
    with pytest.raises(Refused, match="proposal 3 is waiting"):
        soa.may_propose(owner, pending)
    assert soa.may_decide(executive, pending, 3) is pending
    with pytest.raises(Refused, match="no self-approval"):
        soa.may_decide(both, pending, 3)
    with pytest.raises(Refused, match="an executive approves"):
        soa.may_decide(owner, pending, 3)
    with pytest.raises(Refused, match="proposal 4 is not waiting"):
        soa.may_decide(executive, pending, 4)
    assert pending.steps[0] < pending.steps[1] == pending.due_at < pending.steps[2]


# ---------------------------------------------------------------- the durable approval


async def test_a_waiting_proposal_climbs_the_ladder_then_is_approved(time_env: WorkflowEnvironment, tmp_path: Path):
    database_url = f"sqlite:///{tmp_path / 'soa.db'}"
    migrate(database_url)
    now = dt.datetime.now(dt.UTC)
    with transaction(database_url) as session:
        users.add_user(session, email=EXEC, name="Exec", roles=["executive"], slack_user_id=None, now=now, by="tests")
        draft = add_draft(session, soa.SoaProposal.model_validate(full_soa()), AIMS, now, "ladder").number
    owner, executive = Actor(email=AIMS, roles=["aims_owner"]), Actor(email=EXEC, roles=["executive"])
    async with worker_for(time_env.client, "soa", database_url):
        handle = await time_env.client.start_workflow("StatementOfApplicability", soa.SoaInput(), id=f"soa-{uuid.uuid4()}",
                                                      task_queue="soa")  # fmt: skip
        ack = await handle.execute_update("propose_soa", soa.ProposeSoa(actor=owner, draft=draft), result_type=soa.SoaAck)
        assert ack.status == "proposed"
        with pytest.raises(WorkflowUpdateFailedError):  # one proposal at a time
            await handle.execute_update("propose_soa", soa.ProposeSoa(actor=owner, draft=draft), result_type=soa.SoaAck)
        await time_env.sleep(dt.timedelta(days=30))  # far past 200 % of the gate SLA
        with transaction(database_url) as session:
            row = session.get(SoaProposal, draft)
            assert (row.status, row.escalation_level) == ("proposed", 3)
            stalled = [item for item in queries.stalled(session) if item["kind"] == "soa"]
            assert stalled and stalled[0]["assignees"] == [EXEC] and stalled[0]["link"] == "/soa"
        decided = await handle.execute_update(
            "decide_soa", soa.DecideSoa(actor=executive, number=draft, decision="approve"), result_type=soa.SoaAck
        )
        assert (decided.status, decided.version) == ("approved", 1)
    with transaction(database_url) as session:
        trail = [e.type for e in chains.events(session, SOA_CHAIN)]
        assert trail == ["soa_proposed", "soa_escalated", "soa_escalated", "soa_escalated", "soa_approved"]
        assert chains.verify(session, SOA_CHAIN).verified
        assert not [item for item in queries.stalled(session) if item["kind"] == "soa"]


# ---------------------------------------------------------------- over the API and the page


@pytest.fixture
def people(api: Api, database_url: str) -> dict[str, str]:
    """Besides the cast: someone who is both AIMS owner and executive."""
    both = f"both-{uuid.uuid4().hex[:6]}@example.com"
    with transaction(database_url) as session:
        _, api.tokens[both] = users.add_user(session, email=both, name="Both", roles=["aims_owner", "executive"],
                                             slack_user_id=None, now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
    return {"both": both}


async def test_the_soa_is_proposed_decided_kept_and_read_in_every_form(api: Api, people: dict[str, str], tmp_path: Path):
    use_case = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{use_case}/assessment", ASSESSMENT)  # its risks cite A.6.2.4

    assert (await api.post(RISK, "/api/soa/proposals", full_soa())).status_code == 403
    assert (await api.get(REQ, "/api/soa")).status_code == 403
    bad = await api.post(AIMS, "/api/soa/proposals", {"entries": full_soa()["entries"][:5]})
    assert bad.status_code == 422 and "entries" in str(bad.json()["detail"][0]["loc"])

    proposed = await api.post(people["both"], "/api/soa/proposals", full_soa())
    assert proposed.status_code == 201, proposed.text
    number = proposed.json()["waiting"]["number"]
    assert (await api.post(AIMS, "/api/soa/proposals", full_soa())).status_code == 409  # one at a time
    own = await api.post(people["both"], f"/api/soa/proposals/{number}/decision", {"decision": "approve"})
    assert own.status_code == 403 and "no self-approval" in own.text
    assert (await api.post(EXEC, f"/api/soa/proposals/{number}/decision", {"decision": "reject"})).status_code == 422
    approved = await api.post(EXEC, f"/api/soa/proposals/{number}/decision", {"decision": "approve", "comment": "ok"})
    assert approved.status_code == 200, approved.text
    current = approved.json()
    assert current["version"] >= 1 and current["approved_by"] == EXEC and current["waiting"] is None
    by_control = {c["control"]: c for c in current["controls"]}
    assert by_control["A.10.4"]["applicable"] is False and by_control["A.2.2"]["implementation"] == "partial"
    assert use_case in {u["id"] for u in by_control["A.6.2.4"]["cited_by"]}

    # A second version, rejected: the first stays in force; both are in the history.
    second = (await api.ok(AIMS, "/api/soa/proposals", full_soa("tighten", excluded=())))["waiting"]["number"]
    rejected = await api.ok(EXEC, f"/api/soa/proposals/{second}/decision", {"decision": "reject", "comment": "Not yet"})
    assert rejected["version"] == current["version"]
    assert [h["status"] for h in rejected["history"][:2]] == ["rejected", "approved"]
    kept = (await api.get(RISK, f"/api/soa/versions/{current['version']}")).json()
    assert kept["number"] == number and len(kept["entries"]) == len(ANNEX_A_CONTROLS)

    csv = await api.get(RISK, "/api/soa.csv")
    rows = csv.text.strip().splitlines()
    assert csv.status_code == 200 and len(rows) == 1 + len(ANNEX_A_CONTROLS) and "excluded" in csv.text
    pdf = await api.get(AIMS, "/api/soa.pdf")
    assert pdf.status_code == 200 and ink(rasterised(pdf.content, tmp_path)) > 0.01
    (repo_root() / "docs" / "screenshots" / "soa.png").write_bytes(rasterised(pdf.content, tmp_path).read_bytes())


async def test_a_proposal_and_a_decision_sent_twice_are_recorded_once(api: Api):
    """A retry or a double click answers with what the first attempt did: before, the second
    proposal was refused as "one at a time" (the waiting one was its own) and the second
    decision as "not waiting", although both had been recorded."""
    from tests.test_web import form_of, sign_in

    waiting = (await api.get(AIMS, "/api/soa")).json()["waiting"]
    if waiting is not None:
        await api.ok(EXEC, f"/api/soa/proposals/{waiting['number']}/decision", {"decision": "reject", "comment": "x"})
    before = (await api.get(AIMS, "/api/soa")).json()
    body, key = full_soa(f"Retried {uuid.uuid4().hex[:6]}"), str(uuid.uuid4())
    first = await api.post(AIMS, "/api/soa/proposals", body, key=key)
    again, at_once = await asyncio.gather(*(api.post(AIMS, "/api/soa/proposals", body, key=key) for _ in range(2)))
    assert first.status_code == again.status_code == at_once.status_code == 201, (again.text, at_once.text)
    number = first.json()["waiting"]["number"]
    assert again.json()["waiting"]["number"] == at_once.json()["waiting"]["number"] == number
    assert (await api.post(AIMS, "/api/soa/proposals", body)).status_code == 409  # another proposal: one at a time

    approve = {"decision": "approve", "comment": "ok"}
    decided = await asyncio.gather(*(api.post(EXEC, f"/api/soa/proposals/{number}/decision", approve) for _ in range(2)))
    late = await api.post(EXEC, f"/api/soa/proposals/{number}/decision", approve)
    assert [r.status_code for r in [*decided, late]] == [200, 200, 200], [r.text for r in decided]
    assert late.json()["version"] == (before["version"] or 0) + 1
    other = await api.post(EXEC, f"/api/soa/proposals/{number}/decision", {"decision": "reject", "comment": "no"})
    assert other.status_code == 409  # a different decision is not a repeat
    history = (await api.get(AIMS, "/api/soa")).json()["history"]
    assert [h["number"] for h in history if h["note"] == body["note"]] == [number]

    # The page's form, sent twice (Back, then the same button): one proposal.
    http = api.http
    http.cookies.clear()
    assert (await sign_in(http, api.tokens[AIMS])).status_code == 303
    page = await http.get("/soa/propose")
    note = f"Twice {uuid.uuid4().hex[:6]}"
    form = form_of(page.text, "/soa/propose") | {"note": note}
    for control in full_soa()["entries"]:
        c = control["control"]
        form |= {f"{c}.applicable": "yes", f"{c}.justification": f"Needed for {c}", f"{c}.implementation": "planned",
                 f"{c}.owner": AIMS}  # fmt: skip
    sent = [await http.post("/soa/propose", data=form) for _ in range(2)]
    assert [r.status_code for r in sent] == [303, 303] and sent[0].headers["location"] == sent[1].headers["location"]
    http.cookies.clear()
    soa_now = (await api.get(AIMS, "/api/soa")).json()
    assert soa_now["waiting"]["note"] == note
    await api.ok(EXEC, f"/api/soa/proposals/{soa_now['waiting']['number']}/decision", {"decision": "reject", "comment": "x"})
    assert [h["note"] for h in (await api.get(AIMS, "/api/soa")).json()["history"]].count(note) == 1


async def test_the_soa_page_lets_an_executive_decide(api: Api, people: dict[str, str]):
    from tests.test_web import sign_in

    waiting = (await api.get(AIMS, "/api/soa")).json()["waiting"]
    if waiting is None:
        waiting = (await api.ok(AIMS, "/api/soa/proposals", full_soa("from the page")))["waiting"]
    http = api.http
    http.cookies.clear()
    assert (await sign_in(http, api.tokens[EXEC])).status_code == 303
    page = await http.get("/soa")
    assert page.status_code == 200 and f"Proposal {waiting['number']} is waiting" in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    decided = await http.post(f"/soa/proposals/{waiting['number']}/decision", data={"csrf": csrf, "decision": "approve"})
    assert decided.status_code == 303 and "approved" in decided.headers["location"]
    http.cookies.clear()
    assert (await api.get(AIMS, "/api/soa")).json()["waiting"] is None


async def test_the_aims_owner_proposes_a_version_from_the_page(api: Api):
    from tests.test_web import csrf_of, sign_in

    http = api.http
    http.cookies.clear()
    assert (await sign_in(http, api.tokens[RISK])).status_code == 303
    assert (await http.get("/soa/propose")).status_code == 403  # the AIMS owner proposes
    http.cookies.clear()
    assert (await sign_in(http, api.tokens[AIMS])).status_code == 303
    page = await http.get("/soa/propose")
    assert page.status_code == 200 and 'name="A.10.4.justification"' in page.text
    current = (await api.get(AIMS, "/api/soa")).json()
    form: dict[str, object] = {"csrf": csrf_of(page.text), "note": "From the form"}
    for control in current["controls"]:
        c = control["control"]
        form |= {f"{c}.applicable": "yes", f"{c}.justification": control.get("justification") or f"Needed for {c}",
                 f"{c}.implementation": "implemented", f"{c}.owner": AIMS,
                 f"{c}.evidence": "https://wiki.example.com/aims\nhttps://wiki.example.com/aims/2"}  # fmt: skip
    broken = form | {"A.7.4.owner": "", "A.8.2.justification": "", "A.9.2.applicable": ""}
    failed = await http.post("/soa/propose", data=broken)
    assert failed.status_code == 422 and 'id="error-A.7.4"' in failed.text  # applicable without an owner
    assert 'id="error-A.8.2.justification"' in failed.text and "choose applicable or excluded" in failed.text
    assert "From the form" in failed.text and "https://wiki.example.com/aims/2" in failed.text  # nothing lost
    assert (await http.post("/soa/propose", data=form | {"csrf": "forged"})).status_code == 403
    done = await http.post("/soa/propose", data=form)
    assert done.status_code == 303 and "is+waiting+for+an+executive" in done.headers["location"]
    waiting = (await api.get(AIMS, "/api/soa")).json()["waiting"]
    assert waiting["note"] == "From the form" and all(e["implementation"] == "implemented" for e in waiting["entries"])
    assert (await http.get("/soa/propose")).status_code == 409  # one proposal at a time
    http.cookies.clear()
    await api.ok(EXEC, f"/api/soa/proposals/{waiting['number']}/decision", {"decision": "reject", "comment": "Later"})
