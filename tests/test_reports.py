"""The management review (clause 9.3): its inputs from live data as HTML, PDF and JSON, and the
decisions top management records on it, which start corrective actions."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import repo_root, worker_for
from tests.intakes import ASSESSMENT, code_assistant
from tests.test_api import AIMS, OWNER, REQ, RISK, Api, api  # noqa: F401 - `api` is the fixture
from tests.test_evidence import ink, rasterised

EXEC = "exec@example.com"
REPORT = "/api/reports/management-review"


async def test_the_management_review_shows_the_inputs_of_9_3_2(api: Api, tmp_path: Path):
    use_case = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{use_case}/assessment", ASSESSMENT)
    await api.decide(RISK, use_case, "v1-review-risk")

    assert (await api.get(REQ, REPORT)).status_code == 403
    backwards = await api.get(AIMS, REPORT, **{"from": "2026-12-01", "to": "2026-11-01"})
    assert backwards.status_code == 422 and backwards.json()["detail"]["field"] == "from"

    data = (await api.get(AIMS, REPORT, format="json")).json()
    assert data["use_cases"]["total"] >= 1 and data["use_cases"]["by_status"]["in_review"] >= 1
    assert set(data) >= {"previous_review", "approval_cycle_days", "late", "incidents_by_severity",
                         "nonconformities", "soa_changes", "policy_versions", "policy_version"}  # fmt: skip
    page = await api.get(EXEC, REPORT)
    assert page.status_code == 200
    for heading in ("a) Actions from the previous review", "By internal tier", "approval cycle time",
                    "overdue re-reviews", "Incidents in the period", "Nonconformities and corrective actions",
                    "Statement of Applicability", "<svg"):  # fmt: skip
        assert heading in page.text, heading
    pdf = await api.get(EXEC, REPORT, format="pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    first = rasterised(pdf.content, tmp_path)
    assert ink(first) > 0.01
    (repo_root() / "docs" / "screenshots" / "management-review.png").write_bytes(first.read_bytes())


async def test_an_executive_records_decisions_that_become_corrective_actions(api: Api):
    today = dt.datetime.now(dt.UTC).date()
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    body = {
        "period_from": (today - dt.timedelta(days=90)).isoformat(), "period_to": today.isoformat(),
        "decisions": [
            {"decision": "Keep the policy as it is"},
            {"decision": "Train approvers on the EU AI Act", "action": {
                "description": "Run a training for every approver", "owner": RISK, "due_at": due}},
        ],
    }  # fmt: skip
    assert (await api.post(AIMS, "/api/reports/management-reviews", body)).status_code == 403
    recorded = await api.post(EXEC, "/api/reports/management-reviews", body)
    assert recorded.status_code == 201, recorded.text
    review = recorded.json()
    number = review["decisions"][1]["nonconformity"]
    assert review["decisions"][0]["nonconformity"] is None and number
    action = (await api.get(RISK, f"/api/nonconformities/{number}")).json()
    assert (action["source"], action["status"], action["action_owner"]) == ("management_review", "action_open", RISK)

    previous = (await api.get(AIMS, REPORT, format="json")).json()["previous_review"]
    assert previous["number"] == review["number"]
    assert [d["status"] for d in previous["decisions"]] == [None, "action_open"]
    trail = (await api.get(AIMS, "/api/audit/system")).json()["events"]
    assert any(e["type"] == "management_review_recorded" and e["data"]["number"] == review["number"] for e in trail)
    assert review["number"] in [r["number"] for r in (await api.get(AIMS, "/api/reports/management-reviews")).json()]


async def test_a_review_is_recorded_once_per_idempotency_key_with_its_actions(api: Api):
    today = dt.datetime.now(dt.UTC).date()
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    decision = f"Audit the suppliers {uuid.uuid4().hex[:6]}"
    body = {"period_from": (today - dt.timedelta(days=90)).isoformat(), "period_to": today.isoformat(),
            "decisions": [{"decision": decision, "action": {"description": "Audit them", "owner": RISK, "due_at": due}}]}  # fmt: skip
    key = str(uuid.uuid4())
    first, again = [await api.post(EXEC, "/api/reports/management-reviews", body, key=key) for _ in range(2)]
    assert first.status_code == again.status_code == 201, first.text
    assert first.json() == again.json()
    raised = [n for n in (await api.get(AIMS, "/api/nonconformities")).json() if n["description"] == decision]
    assert [n["number"] for n in raised] == [first.json()["decisions"][0]["nonconformity"]]
    trail = (await api.get(AIMS, "/api/audit/system")).json()["events"]
    recorded = [e for e in trail if e["type"] == "management_review_recorded" and e["data"]["number"] == first.json()["number"]]
    assert len(recorded) == 1


async def test_the_review_opens_in_the_browser_for_top_management(api: Api):
    from tests.test_web import sign_in

    http = api.http
    http.cookies.clear()
    assert (await sign_in(http, api.tokens[EXEC])).status_code == 303
    assert 'href="/reports/management-review"' in (await http.get("/")).text
    page = await http.get("/reports/management-review", params={"from": "2026-01-01"})
    assert page.status_code == 200 and "Management review: inputs" in page.text
    pdf = await http.get("/reports/management-review", params={"pdf": "true"})
    assert pdf.content.startswith(b"%PDF")
    http.cookies.clear()


def test_the_previous_quarter():
    from aims.domain.management_review import previous_quarter

    for day, expected in (("2027-01-01", ("2026-10-01", "2027-01-01")), ("2026-11-23", ("2026-07-01", "2026-10-01")),
                          ("2026-04-01", ("2026-01-01", "2026-04-01"))):  # fmt: skip
        start, end = previous_quarter(dt.date.fromisoformat(day))
        assert (start.date().isoformat(), end.date().isoformat()) == expected, day


async def test_a_period_at_the_edge_of_the_calendar_is_refused_not_a_server_error(api: Api):
    """Found by the API fuzzing: `to=0001-01-01` overflowed into a 500."""
    for query in ({"to": "0001-01-01"}, {"to": "9999-12-31"}):
        answer = await api.get(AIMS, "/api/reports/management-review", format="json", **query)
        assert answer.status_code == 422 and answer.json()["detail"]["field"] == "from", query


async def test_the_quarterly_schedule_puts_the_review_on_the_list_until_it_is_held(
    time_env: WorkflowEnvironment, tmp_path: Path
):  # fmt: skip
    from aims.persistence import queries, reports, users
    from aims.persistence.db import migrate, transaction

    database_url = f"sqlite:///{tmp_path / 'reviews.db'}"
    migrate(database_url)
    with transaction(database_url) as session:
        users.add_user(session, email=EXEC, name="Exec", roles=["executive"], slack_user_id=None,
                       now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
    # The clock is not skipped: both runs fall in the same quarter, as a retried schedule would.
    async with worker_for(time_env.client, "reviews", database_url):
        with time_env.auto_time_skipping_disabled():
            numbers = [
                await time_env.client.execute_workflow("QuarterlyManagementReview", id=f"review-{uuid.uuid4()}",
                                                       task_queue="reviews", result_type=int)  # fmt: skip
                for _ in range(2)
            ]
    assert numbers[0] == numbers[1]  # once per quarter
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    with transaction(database_url) as session:
        late = reports.stalled(session, later)
        assert [item["assignees"] for item in late] == [[EXEC]] and late[0]["link"].startswith("/reports/")
        assert not reports.stalled(session, dt.datetime.now(dt.UTC))  # not late yet
        reports.add_review(session, start=dt.datetime.now(dt.UTC), end=dt.datetime.now(dt.UTC), by=EXEC,
                           report_sha256="0" * 64, decisions=[], now=dt.datetime.now(dt.UTC), request_key=str(uuid.uuid4()))  # fmt: skip
        assert not reports.stalled(session, later)  # held: off the list
        assert not [i for i in queries.stalled(session) if i["kind"] == "management_review"]
