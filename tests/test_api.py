"""End-to-end: the REST API through a real worker on the Temporal dev server and a real database."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import worker_for
from aims.settings import Settings, SettingsError
from api.app import create_app
from tests import people
from tests.intakes import ASSESSMENT, CHECKLIST, REVIEW_CONTINUE, SIGNOFF, changed, code_assistant, invoice_ocr


@dataclasses.dataclass
class Api:
    http: httpx.AsyncClient
    tokens: dict[str, str]

    def _headers(self, who: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    async def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, headers=self._headers(who), params=params)

    async def post(self, who: str, path: str, body: Any, key: str | None = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self._headers(who, key))

    async def ok(self, who: str, path: str, body: Any, key: str | None = None) -> dict[str, Any]:
        response = await self.post(who, path, body, key)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def decide(self, who: str, use_case: str, gate: str, decision: str = "approve", **extra: Any):
        return await self.post(
            who, f"/api/use-cases/{use_case}/gates/{gate}/decision", {"decision": decision, **extra}
        )


def settings_for(database_url: str, task_queue: str) -> Settings:
    return dataclasses.replace(Settings.from_env(), database_url=database_url, task_queue=task_queue)


@pytest.fixture(scope="module")
async def api(dev_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Api]:
    task_queue = f"api-{uuid.uuid4()}"
    tokens = people.seed(database_url)
    app = create_app(settings_for(database_url, task_queue), client=dev_env.client)
    async with worker_for(dev_env.client, task_queue, database_url):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aims.test") as http:
            yield Api(http, tokens)


REQ, OWNER, RISK, SECURITY, AIMS = (
    "req@example.com",
    "owner@example.com",
    "risk@example.com",
    "security@example.com",
    "aims@example.com",
)


async def test_a_t2_use_case_lives_from_intake_to_retirement(api: Api):
    created = await api.post(REQ, "/api/use-cases", code_assistant())
    assert created.status_code == 201
    case = created.json()
    uc = case["id"]
    assert (case["status"], case["version"]) == ("assessment", 1)
    assert case["classification"]["aims_tier"] == "T2_MEDIUM"

    # Read-your-writes: the register shows it at once.
    fetched = (await api.get(REQ, f"/api/use-cases/{uc}")).json()
    assert fetched["status"] == "assessment"

    draft = (await api.get(OWNER, f"/api/use-cases/{uc}/assessment/draft")).json()
    assert draft["risks"][0]["description"].startswith("SEC-2 (security)")
    assert draft["risks"][0]["controls"] == ["A.6.2.8", "A.6.2.6"]
    # The draft plus the owner's conclusion is a valid assessment.
    draft["conclusion"] = "Acceptable with the listed controls"
    assert (await api.post(OWNER, f"/api/use-cases/{uc}/assessment/draft", draft)).status_code == 405

    state = await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", draft)
    assert state["status"] == "in_review"
    gates = {g["id"]: g for g in state["gates"]}
    assert set(gates) == {"v1-review-risk", "v1-review-security", "v1-final-aims_owner"}
    assert {"id", "role", "kind", "state", "due_at", "stalled", "decided_by", "comment", "version"} <= set(
        gates["v1-review-risk"]
    )

    pending = (await api.get(RISK, "/api/approvals/pending")).json()
    assert [p["gate_id"] for p in pending if p["use_case_id"] == uc] == ["v1-review-risk"]
    assert not [p for p in (await api.get(OWNER, "/api/approvals/pending")).json() if p["use_case_id"] == uc]

    for who, gate in ((RISK, "v1-review-risk"), (SECURITY, "v1-review-security"), (AIMS, "v1-final-aims_owner")):
        response = await api.decide(who, uc, gate, comment="ok")
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"

    state = await api.ok(OWNER, f"/api/use-cases/{uc}/sign-off", SIGNOFF)
    assert state["status"] == "in_production" and state["next_review_due"]

    state = await api.ok(OWNER, f"/api/use-cases/{uc}/reviews", REVIEW_CONTINUE)
    assert state["status"] == "under_review"
    continuation = next(g["id"] for g in state["gates"] if g["state"] == "open")
    state = (await api.decide(AIMS, uc, continuation)).json()
    assert state["status"] == "in_production" and state["reviews_completed"] == 1

    state = await api.ok(REQ, f"/api/use-cases/{uc}/incidents", {"severity": "minor", "description": "Typo"})
    assert state["incidents"] == 1

    state = await api.ok(OWNER, f"/api/use-cases/{uc}/decommission", {"reason": "Replaced"})
    assert state["status"] == "decommissioning"
    state = await api.ok(OWNER, f"/api/use-cases/{uc}/decommission/checklist", CHECKLIST)
    gate = next(g["id"] for g in state["gates"] if g["state"] == "open")
    state = (await api.decide(AIMS, uc, gate)).json()
    assert state["status"] == "retired"

    late = await api.post(REQ, f"/api/use-cases/{uc}/incidents", {"severity": "minor", "description": "x"})
    assert late.status_code == 409

    trail = (await api.get(AIMS, f"/api/use-cases/{uc}/audit")).json()
    assert trail["verified"] is True
    assert trail["events"][0]["type"] == "intake_submitted" and len(trail["events"]) > 20
    assert all(len(e["hash"]) == 64 for e in trail["events"])

    mine = (await api.get(OWNER, "/api/notifications")).json()
    assert {"assessment_requested", "signoff_requested", "decommission_requested"} <= {n["kind"] for n in mine}


async def test_refusals_get_the_right_status_and_change_nothing(api: Api):
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    before = (await api.get(REQ, f"/api/use-cases/{uc}")).json()

    forbidden = await api.decide(SECURITY, uc, "v1-review-risk")
    assert forbidden.status_code == 403 and "risk role" in forbidden.json()["detail"]["message"]
    not_open = await api.decide(AIMS, uc, "v1-final-aims_owner")
    assert not_open.status_code == 409
    missing = await api.decide(RISK, uc, "v7-review-risk")
    assert missing.status_code == 404
    no_comment = await api.decide(RISK, uc, "v1-review-risk", "reject")
    assert no_comment.status_code == 422 and "comment" in no_comment.json()["detail"]["message"]
    bad_value = await api.decide(RISK, uc, "v1-review-risk", "maybe")
    assert bad_value.status_code == 422 and bad_value.json()["detail"][0]["loc"] == ["body", "decision"]
    stale = await api.decide(RISK, uc, "v1-review-risk", version=2)
    assert stale.status_code == 409
    wrong_owner = await api.post(REQ, f"/api/use-cases/{uc}/sign-off", SIGNOFF)
    assert wrong_owner.status_code == 403

    assert (await api.get(REQ, f"/api/use-cases/{uc}")).json() == before


async def test_nobody_approves_their_own_use_case(api: Api):
    # The risk officer files a use case of their own: they cannot decide its risk gate.
    uc = (await api.ok(RISK, "/api/use-cases", changed(code_assistant(), business_owner=OWNER)))["id"]
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    response = await api.decide(RISK, uc, "v1-review-risk")
    assert response.status_code == 403 and "no self-approval" in response.json()["detail"]["message"]
    assert not [p for p in (await api.get(RISK, "/api/approvals/pending")).json() if p["use_case_id"] == uc]


async def test_idempotency_key_decides_once(api: Api):
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant(), key="intake-1"))["id"]
    again = await api.ok(REQ, "/api/use-cases", code_assistant(), key="intake-1")
    assert again["id"] == uc
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    path = f"/api/use-cases/{uc}/gates/v1-review-risk/decision"
    first = await api.ok(RISK, path, {"decision": "approve"}, key="click-1")
    second = await api.ok(RISK, path, {"decision": "approve"}, key="click-1")
    assert first["gates"] == second["gates"]
    trail = (await api.get(RISK, f"/api/use-cases/{uc}/audit")).json()["events"]
    assert [e["data"]["gate_id"] for e in trail if e["type"] == "gate_decided"] == ["v1-review-risk"]
    third = await api.post(RISK, path, {"decision": "approve"}, key="click-2")
    assert third.status_code == 409


async def test_bad_input_is_a_4xx_naming_the_field(api: Api):
    no_token = await api.http.get("/api/use-cases")
    assert no_token.status_code == 401
    body = changed(code_assistant(), people__exposure="everyone")
    response = await api.post(REQ, "/api/use-cases", body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "people", "exposure"]
    unknown = await api.post(REQ, "/api/use-cases", changed(code_assistant(), business_owner="ghost@example.com"))
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "business_owner"
    not_json = await api.http.post(
        "/api/use-cases", content=b"{oops", headers={**api._headers(REQ), "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert (await api.get(REQ, "/api/use-cases/nope")).status_code == 404
    assert (await api.get(REQ, "/api/use-cases", limit=0)).status_code == 422
    bad_control = dict(ASSESSMENT, risks=[dict(ASSESSMENT["risks"][0], controls=["A.99"])])
    uc = (await api.ok(REQ, "/api/use-cases", invoice_ocr()))["id"]
    response = await api.post(OWNER, f"/api/use-cases/{uc}/assessment", bad_control)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][:3] == ["body", "risks", 0]


async def test_classify_creates_nothing_and_register_filters(api: Api):
    total_before = (await api.get(REQ, "/api/use-cases", limit=1)).json()["total"]
    preview = await api.ok(REQ, "/api/classify", code_assistant())
    assert preview["classification"]["aims_tier"] == "T2_MEDIUM"
    assert preview["review_roles"] == ["risk", "security"] and preview["final_role"] == "aims_owner"
    assert (await api.get(REQ, "/api/use-cases", limit=1)).json()["total"] == total_before

    name = f"Unique {uuid.uuid4().hex[:8]}"
    created = await api.ok(REQ, "/api/use-cases", changed(invoice_ocr(), name=name))
    found = (await api.get(REQ, "/api/use-cases", q=name.lower())).json()
    assert [item["id"] for item in found["items"]] == [created["id"]]
    t1 = (await api.get(REQ, "/api/use-cases", aims_tier="T1_LOW", status="assessment", limit=500)).json()
    assert created["id"] in {item["id"] for item in t1["items"]}
    assert all(item["aims_tier"] == "T1_LOW" for item in t1["items"])


async def test_prohibited_and_stalled_views(api: Api):
    rejected = await api.ok(REQ, "/api/use-cases", changed(invoice_ocr(), prohibited__face_scraping="yes"))
    assert rejected["status"] == "rejected"
    assert (await api.get(RISK, "/api/approvals/stalled")).status_code == 403
    stalled = await api.get(AIMS, "/api/approvals/stalled")
    assert stalled.status_code == 200 and isinstance(stalled.json(), list)


async def test_healthz(api: Api):
    response = await api.http.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


# ---------------------------------------------------------------- the four reproductions of issue 8


async def test_a_handover_does_not_let_the_former_owner_approve_over_http(api: Api, database_url: str):
    """An owner who holds risk, security and aims_owner hands the use case over, then tries
    to decide every gate of the new version alone: each is refused with 403 and the reason."""
    from aims.persistence import users
    from aims.persistence.db import transaction

    with transaction(database_url) as session:
        if users.user_by_email(session, "dual@example.com") is None:
            _, token = users.add_user(
                session, email="dual@example.com", name="Dual", roles=["risk", "security", "aims_owner"],
                slack_user_id=None, now=dt.datetime.now(dt.UTC), by="tests",
            )  # fmt: skip
            api.tokens["dual@example.com"] = token
    uc = (await api.ok("dual@example.com", "/api/use-cases", code_assistant("dual@example.com")))["id"]
    await api.ok("dual@example.com", f"/api/use-cases/{uc}/revisions", {"intake": code_assistant(OWNER)})
    state = await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    for gate in [g["id"] for g in state["gates"] if g["state"] == "open"] + ["v2-final-aims_owner"]:
        response = await api.decide("dual@example.com", uc, gate)
        assert response.status_code in (403, 409), response.text
        if gate != "v2-final-aims_owner":
            assert response.status_code == 403 and "no self-approval" in response.json()["detail"]["message"]
    assert (await api.get(AIMS, f"/api/use-cases/{uc}")).json()["status"] == "in_review"


async def test_a_serious_incident_from_an_outsider_is_triaged_not_suspended(api: Api):
    uc = (await api.ok(REQ, "/api/use-cases", invoice_ocr()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    await api.decide(AIMS, uc, "v1-final-aims_owner")
    await api.ok(OWNER, f"/api/use-cases/{uc}/sign-off", SIGNOFF)
    state = await api.ok(RISK, f"/api/use-cases/{uc}/incidents", {"severity": "minor", "description": "typo"})
    state = await api.ok(SECURITY, f"/api/use-cases/{uc}/incidents", {"severity": "serious", "description": "leak?"})
    assert state["status"] == "in_production" and not state["suspended"]
    triage = next(g for g in state["gates"] if g["kind"] == "incident_triage")
    assert triage["state"] == "open" and triage["role"] == "aims_owner"
    pending = (await api.get(AIMS, "/api/approvals/pending")).json()
    assert triage["id"] in {p["gate_id"] for p in pending if p["use_case_id"] == uc}
    state = (await api.decide(AIMS, uc, triage["id"])).json()
    assert state["status"] == "suspended" and state["suspended"]
    # An incident on a use case that was never deployed is refused.
    fresh = (await api.ok(REQ, "/api/use-cases", invoice_ocr()))["id"]
    refused = await api.post(REQ, f"/api/use-cases/{fresh}/incidents", {"severity": "minor", "description": "x"})
    assert refused.status_code == 409 and "signed off at least once" in refused.json()["detail"]["message"]


async def test_what_you_may_do_now_comes_with_the_use_case(api: Api):
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    owner_view = (await api.get(OWNER, f"/api/use-cases/{uc}")).json()
    assert owner_view["you"]["actions"] == ["assessment", "revise", "withdraw"]
    state = await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    assert state["you"]["decidable_gates"] == []
    risk_view = (await api.get(RISK, f"/api/use-cases/{uc}")).json()
    assert risk_view["you"] == {"email": RISK, "actions": [], "decidable_gates": ["v1-review-risk"]}
    waiting = {(w["kind"], w["ref"]) for w in risk_view["waiting"]}
    assert waiting == {("gate", "v1-review-risk"), ("gate", "v1-review-security")}


async def test_a_requester_withdraws_before_approval_and_nothing_waits_any_more(api: Api):
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    assert (await api.post(RISK, f"/api/use-cases/{uc}/withdrawal", {"reason": "mine now"})).status_code == 403
    assert (await api.post(REQ, f"/api/use-cases/{uc}/withdrawal", {"reason": ""})).status_code == 422
    state = await api.ok(REQ, f"/api/use-cases/{uc}/withdrawal", {"reason": "We bought a product instead"})
    assert state["status"] == "withdrawn" and all(g["state"] == "superseded" for g in state["gates"])
    assert uc not in {p["use_case_id"] for p in (await api.get(RISK, "/api/approvals/pending")).json()}
    decided = await api.decide(RISK, uc, "v1-review-risk")
    assert decided.status_code == 409
    trail = (await api.get(AIMS, f"/api/use-cases/{uc}/audit")).json()
    assert trail["verified"] and [e["data"]["reason"] for e in trail["events"] if e["type"] == "withdrawn"] == [
        "We bought a product instead"
    ]


async def test_the_apis_database_work_runs_in_a_few_threads_of_its_own(database_url: str, monkeypatch):
    settings = dataclasses.replace(settings_for(database_url, "unused"), database_threads=3)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        names = await asyncio.gather(*(asyncio.to_thread(lambda: threading.current_thread().name) for _ in range(20)))
    assert {name.rsplit("_", 1)[0] for name in names} == {"aims-db"} and len(set(names)) <= 3

    monkeypatch.setenv("AIMS_DATABASE_THREADS", "4")
    assert Settings.from_env().database_threads == 4
    for wrong in ("0", "65", "two"):
        monkeypatch.setenv("AIMS_DATABASE_THREADS", wrong)
        with pytest.raises(SettingsError, match=f"AIMS_DATABASE_THREADS: '{wrong}'"):
            Settings.from_env()
