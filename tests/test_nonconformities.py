"""Nonconformities and corrective actions (clause 10.2): raised with an action, completed by its
owner, checked by another AIMS owner (closed, or reopened with a new action), late ones climb
the gates' ladder into the stalled view."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from aims.domain import nonconformity as nc
from aims.domain.state import Actor, Refused
from aims.persistence import chains, queries, users
from aims.persistence import nonconformities as records
from aims.persistence.db import migrate, transaction
from aims.settings import current_policy
from tests.conftest import worker_for
from tests.test_api import AIMS, OWNER, REQ, RISK, Api, api  # noqa: F401 - `api` is the fixture

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def action(owner: str = OWNER, days: int = 14) -> dict[str, str]:
    return {"description": "Add a human check of every answer", "owner": owner,
            "due_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()}  # fmt: skip


def raised(source: str = "incident", owner: str = OWNER) -> dict[str, object]:
    return {"source": source, "description": "Answers reached a customer unchecked", "action": action(owner)}


# ---------------------------------------------------------------- the rules


def test_the_rules_of_a_corrective_action():
    body = nc.RaiseNonconformity.model_validate(raised())
    state = nc.opened(1, AIMS, body.action, NOW, current_policy())
    assert state.status == "action_open" and state.steps[1] == state.due_at
    risk, owner = Actor(email=RISK, roles=["risk"]), Actor(email=OWNER, roles=["requester"])
    aims, owner_aims = Actor(email=AIMS, roles=["aims_owner"]), Actor(email=OWNER, roles=["aims_owner"])
    with pytest.raises(Refused, match="governance roles"):
        nc.may_raise(owner, body, NOW)
    with pytest.raises(Refused, match="action.due_at"):
        nc.may_raise(risk, body.model_copy(update={"action": body.action.model_copy(update={"due_at": NOW})}), NOW)
    complete = nc.NcCommand(actor=owner, kind="complete", complete=nc.CompleteAction(note="done"))
    with pytest.raises(Refused, match="the action's owner"):
        nc.check(state, complete.model_copy(update={"actor": risk}), NOW)
    checking = nc.apply(state, complete, NOW)
    assert checking.status == "effectiveness_check" and checking.due_at > NOW
    effective = nc.NcCommand(actor=aims, kind="check", check=nc.CheckEffectiveness(effective=True, comment="ok"))
    with pytest.raises(Refused, match="other than the action's owner"):
        nc.check(checking, effective.model_copy(update={"actor": owner_aims}), NOW)
    assert nc.apply(checking, effective, NOW).status == "closed"
    with pytest.raises(ValidationError, match="next_action"):
        nc.CheckEffectiveness(effective=False, comment="still happens")


def test_the_same_command_by_the_same_person_is_done_already():
    owner, aims = Actor(email=OWNER, roles=["requester"]), Actor(email=AIMS, roles=["aims_owner"])
    complete = nc.NcCommand(actor=owner, kind="complete", complete=nc.CompleteAction(note="done"))
    not_effective = nc.NcCommand(actor=aims, kind="check", check=nc.CheckEffectiveness(
        effective=False, comment="still happens", next_action=nc.CorrectiveAction.model_validate(action())))  # fmt: skip
    open_round = {"round": 1, "action": action()}
    completed = open_round | {"completed_by": OWNER, "note": "done"}
    checked = completed | {"checked_by": AIMS, "effective": False, "comment": "still happens"}
    assert not nc.done_already([open_round], complete)
    assert nc.done_already([completed], complete)
    assert not nc.done_already([completed], complete.model_copy(update={"complete": nc.CompleteAction(note="more")}))
    assert not nc.done_already([completed], not_effective)
    assert nc.done_already([checked, {"round": 2, "action": action()}], not_effective)  # reopened: round 2 waits
    assert not nc.done_already([checked, {"round": 2, "action": action()}], complete)  # round 2 is not done
    assert not nc.done_already([checked, completed | {"round": 2}], not_effective)  # round 2 done: a new check


# ---------------------------------------------------------------- the durable loop


async def test_a_late_action_climbs_the_ladder_and_a_reopened_one_closes(time_env: WorkflowEnvironment, tmp_path: Path):
    from aims.application.gateway import UseCaseGateway

    database_url = f"sqlite:///{tmp_path / 'nc.db'}"
    migrate(database_url)
    with transaction(database_url) as session:
        for email, roles in ((AIMS, ["aims_owner"]), (OWNER, ["requester"])):
            users.add_user(session, email=email, name=email, roles=roles, slack_user_id=None, now=NOW, by="tests")
        number = records.add_draft(session, nc.RaiseNonconformity.model_validate(raised()), RISK,
                                   dt.datetime.now(dt.UTC), str(uuid.uuid4())).number  # fmt: skip
    owner, aims = Actor(email=OWNER, roles=["requester"]), Actor(email=AIMS, roles=["aims_owner"])
    async with worker_for(time_env.client, "nc", database_url):
        gateway = UseCaseGateway(time_env.client, "nc")
        assert (await gateway.open_nonconformity(number)).status == "action_open"
        assert (await gateway.open_nonconformity(number)).status == "action_open"  # a retry opens it once
        await time_env.sleep(dt.timedelta(days=40))  # past 200 % of a 14-day action
        with transaction(database_url) as session:
            assert records.get(session, number).escalation_level == 3
            late = [item for item in queries.stalled(session) if item["kind"] == "corrective_action"]
            assert late and late[0]["assignees"] == [OWNER] and late[0]["link"] == f"/nonconformities/{number}"
        done = nc.NcCommand(actor=owner, kind="complete", complete=nc.CompleteAction(note="Checks added"))
        assert (await gateway.act_on_nonconformity(number, done, "u1")).status == "effectiveness_check"
        next_due = await time_env.get_current_time() + dt.timedelta(days=5)  # the workflow's clock is 40 days on
        next_action = nc.CorrectiveAction(description="Weekend rota", owner=OWNER, due_at=next_due)
        again = nc.CheckEffectiveness(effective=False, comment="Still unchecked on weekends", next_action=next_action)
        ack = await gateway.act_on_nonconformity(number, nc.NcCommand(actor=aims, kind="check", check=again), "u2")
        assert (ack.status, ack.round) == ("action_open", 2)
        await gateway.act_on_nonconformity(number, done, "u3")
        closing = nc.NcCommand(actor=aims, kind="check", check=nc.CheckEffectiveness(effective=True, comment="Fixed"))
        assert (await gateway.act_on_nonconformity(number, closing, "u4")).status == "closed"
    with transaction(database_url) as session:
        row = records.get(session, number)
        assert row.status == "closed" and len(row.rounds) == 2 and row.rounds[0]["effective"] is False
        kinds = [e.type for e in chains.events(session, records.chain_id(number))]
        assert kinds[0] == "nonconformity_raised" and kinds.count("nonconformity_escalated") == 3
        assert kinds[-1] == "effectiveness_checked" and "nonconformity_reopened" in kinds
        assert not [item for item in queries.stalled(session) if item["kind"] == "corrective_action"]


# ---------------------------------------------------------------- over the API


async def test_nonconformities_over_the_api(api: Api, database_url: str):
    assert (await api.post(REQ, "/api/nonconformities", raised())).status_code == 403
    bad = await api.post(RISK, "/api/nonconformities", raised() | {"source": "gossip"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "source"]
    unknown = await api.post(RISK, "/api/nonconformities", raised() | {"use_case_id": str(uuid.uuid4())})
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "use_case_id"

    created = await api.post(RISK, "/api/nonconformities", raised("audit_finding"))
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert created.json()["status"] == "action_open" and created.json()["action_owner"] == OWNER
    assert number in [n["number"] for n in (await api.get(OWNER, "/api/nonconformities")).json()]  # the action owner
    refused = await api.post(RISK, f"/api/nonconformities/{number}/completion", {"note": "done"})
    assert refused.status_code == 403 and "action's owner" in refused.text
    done = await api.ok(OWNER, f"/api/nonconformities/{number}/completion", {"note": "Added checks"})
    assert done["status"] == "effectiveness_check"
    # Sent twice (a double click, a retry): answered with what was recorded, not refused as out of turn.
    assert await api.ok(OWNER, f"/api/nonconformities/{number}/completion", {"note": "Added checks"}) == done
    closed = await api.ok(AIMS, f"/api/nonconformities/{number}/effectiveness", {"effective": True, "comment": "ok"})
    assert closed["status"] == "closed" and closed["rounds"][0]["checked_by"] == AIMS
    assert await api.ok(AIMS, f"/api/nonconformities/{number}/effectiveness", {"effective": True, "comment": "ok"}) == closed
    again = await api.post(AIMS, f"/api/nonconformities/{number}/effectiveness", {"effective": True, "comment": "x"})
    assert again.status_code == 409  # another check, not a repeat
    with transaction(database_url) as session:
        kinds = [e.type for e in chains.events(session, records.chain_id(number))]
    assert kinds.count("corrective_action_completed") == kinds.count("effectiveness_checked") == 1
    assert number in [n["number"] for n in (await api.get(AIMS, "/api/nonconformities", status="closed")).json()]


async def test_a_nonconformity_is_raised_once_per_idempotency_key(api: Api):
    """A retried request (a timeout, a double click) answers with the nonconformity it raised."""
    body = raised("audit_finding") | {"description": f"Retried {uuid.uuid4().hex[:6]}"}
    key = str(uuid.uuid4())
    first = await api.post(RISK, "/api/nonconformities", body, key=key)
    again, at_once = await asyncio.gather(*(api.post(RISK, "/api/nonconformities", body, key=key) for _ in range(2)))
    assert first.status_code == again.status_code == at_once.status_code == 201, first.text
    assert first.json()["number"] == again.json()["number"] == at_once.json()["number"]
    other = await api.post(AIMS, "/api/nonconformities", body, key=key)  # the key is the caller's own
    assert other.json()["number"] != first.json()["number"]
    listed = (await api.get(AIMS, "/api/nonconformities")).json()
    assert [n["raised_by"] for n in listed if n["description"] == body["description"]] == [AIMS, RISK]


async def test_the_pages_raise_complete_and_check_a_nonconformity(api: Api):
    import re

    from tests.test_web import csrf_of, sign_in

    http = api.http

    async def as_user(email: str) -> None:
        http.cookies.clear()
        assert (await sign_in(http, api.tokens[email])).status_code == 303

    await as_user(RISK)
    page = await http.get("/nonconformities")
    assert page.status_code == 200 and "Raise a nonconformity" in page.text
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf": csrf_of(page.text), "source": "review", "description": "Review found stale docs",
            "action_description": "Refresh the docs", "action_owner": "", "action_due": due}  # fmt: skip
    refused = await http.post("/nonconformities", data=form)
    assert refused.status_code == 422 and 'id="error-action_owner"' in refused.text and "Refresh the docs" in refused.text
    assert 'role="alert">Not recorded: please fix the 1 answer marked below. Nothing you entered is lost.' in refused.text
    # Refused by the rules, not the form: beside the field they name, everything typed kept.
    past = await http.post("/nonconformities", data=form | {"action_owner": OWNER, "action_due": "2020-01-31T17:00"})
    assert past.status_code == 422 and "a date after now and within a year</p>" in past.text
    assert 'id="action_due" name="action_due" aria-invalid="true"' in past.text and "Review found stale docs" in past.text
    unknown = await http.post("/nonconformities", data=form | {"action_owner": OWNER, "use_case_id": "no-such-use-case"})
    assert unknown.status_code == 422 and 'id="error-use_case_id">no use case &#39;no-such-use-case&#39;' in unknown.text
    page = await http.get("/nonconformities")
    form |= {"submission": re.search(r'name="submission" value="([^"]+)"', page.text).group(1)}
    created = await http.post("/nonconformities", data=form | {"action_owner": OWNER})
    twice = await http.post("/nonconformities", data=form | {"action_owner": OWNER})  # a double click
    assert created.status_code == twice.status_code == 303 and twice.headers["location"] == created.headers["location"]
    number = int(re.search(r"/nonconformities/(\d+)", created.headers["location"]).group(1))
    assert f"Raised: nonconformity {number}. {OWNER} is asked to do its action by" in (await http.get(created.headers["location"])).text

    await as_user(OWNER)
    page = await http.get(f"/nonconformities/{number}")
    assert "Mark the action done" in page.text and "Check its effectiveness" not in page.text
    empty = await http.post(f"/nonconformities/{number}/completion", data={"csrf": csrf_of(page.text), "note": " "})
    assert empty.status_code == 422 and 'id="error-note"' in empty.text and "Mark the action done" in empty.text
    done = await http.post(f"/nonconformities/{number}/completion", data={"csrf": csrf_of(page.text), "note": "Refreshed"})
    assert "is done. An AIMS owner checks" in (await http.get(done.headers["location"])).text
    # A second tab's click comes back on the page, saying why, not on an error page.
    again = await http.post(f"/nonconformities/{number}/completion", data={"csrf": csrf_of(page.text), "note": "Twice"})
    assert again.status_code == 409 and 'role="alert">Not recorded: the corrective action is done already' in again.text

    await as_user(AIMS)
    page = await http.get(f"/nonconformities/{number}")
    assert "Check its effectiveness" in page.text
    check = {"csrf": csrf_of(page.text), "effective": "no", "comment": "Still stale"}
    unplanned = await http.post(f"/nonconformities/{number}/effectiveness", data=check)
    assert unplanned.status_code == 422 and 'id="error-action_description"' in unplanned.text
    assert 'value="no" checked' in unplanned.text and "Still stale</textarea>" in unplanned.text
    checked = await http.post(f"/nonconformities/{number}/effectiveness",
                              data={"csrf": csrf_of(page.text), "effective": "yes", "comment": "Docs current"})  # fmt: skip
    assert checked.status_code == 303
    page = await http.get(checked.headers["location"])
    assert "closed" in page.text and "Effectiveness: <strong>effective</strong>" in page.text
    assert f"nonconformity {number} is closed." in page.text
    http.cookies.clear()
