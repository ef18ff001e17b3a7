"""Bounded input (P6): limits declared where the OpenAPI shows them, 413 before any parsing,
422 naming the field, and no payload the workflow sends to Temporal near its limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from aims.domain import actions
from aims.domain.bounds import BODY_MAX_BYTES, DOCUMENT_MAX_BYTES, OFFSET_MAX, document_size
from aims.domain.intake import Intake
from aims.domain.messages import workflow_id
from api.app import create_app
from tests import people
from tests.conftest import worker_for
from tests.flow import Flow, decider
from tests.intakes import ASSESSMENT, OPERATIONS, REVIEW_CONTINUE, SIGNOFF, code_assistant
from tests.test_api import AIMS, OWNER, REQ, RISK, SECURITY, Api, settings_for

TEMPORAL_PAYLOAD_BUDGET = 256 * 1024
WIDE = "😀"  # four bytes in UTF-8: the widest a character gets


@pytest.fixture(scope="module")
async def api(dev_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Api]:
    task_queue = "bounds"
    tokens = people.seed(database_url)
    app = create_app(settings_for(database_url, task_queue), client=dev_env.client)
    async with worker_for(dev_env.client, task_queue, database_url):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
            yield Api(http, tokens)


# ------------------------------------------------------------ the OpenAPI shows every limit


def _schemas_of_requests(openapi: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    components = openapi["components"]["schemas"]
    seen: set[str] = set()

    def walk(where: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                yield from walk(name, components[name])
            return
        yield where, schema
        for key in ("anyOf", "oneOf", "allOf"):
            for index, part in enumerate(schema.get(key, [])):
                yield from walk(f"{where}[{index}]", part)
        for name, prop in schema.get("properties", {}).items():
            yield from walk(f"{where}.{name}", prop)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from walk(f"{where}.{key}", schema[key])

    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                yield from walk(f"{method.upper()} {path}", body)
            for parameter in operation.get("parameters", []):
                yield from walk(f"{method.upper()} {path} {parameter['name']}", parameter["schema"])


async def test_every_string_list_and_map_the_api_accepts_has_a_declared_limit(api: Api):
    openapi = (await api.http.get("/openapi.json")).json()
    unbounded = []
    for where, schema in _schemas_of_requests(openapi):
        kind = schema.get("type")
        if kind == "string" and not ({"maxLength", "enum", "const"} & set(schema) or schema.get("format") in (
            "date", "date-time")):  # fmt: skip
            unbounded.append(where)
        if kind == "array" and "maxItems" not in schema:
            unbounded.append(where)
        if kind == "object" and isinstance(schema.get("additionalProperties"), dict) and "maxProperties" not in schema:
            unbounded.append(where)
        if kind == "integer" and not ({"maximum", "enum"} & set(schema)):
            unbounded.append(where)
    assert unbounded == []
    components = openapi["components"]["schemas"]
    for document in ("Intake", "Assessment", "SignOff"):
        assert components[document]["x-max-bytes"] == DOCUMENT_MAX_BYTES
    controls = components["Risk"]["properties"]["controls"]["items"]
    assert len(controls["enum"]) == 38 and "A.6.2.4" in controls["enum"]


# ------------------------------------------------------------ 413 before anything else


async def test_a_body_over_one_mebibyte_is_refused_before_parsing_or_authentication(api: Api):
    huge = b'{"severity":"minor","description":"' + b"x" * BODY_MAX_BYTES + b'"}'
    for headers in ({}, {"Authorization": f"Bearer {api.tokens[REQ]}"}):
        response = await api.http.post(
            "/api/use-cases/anything/incidents", content=huge, headers=headers | {"Content-Type": "application/json"}
        )
        assert response.status_code == 413 and "1,048,576 bytes" in response.json()["detail"]["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 65536

    chunked = await api.http.post("/api/use-cases", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413


async def test_a_body_json_cannot_carry_is_422_on_the_body_and_changes_nothing(api: Api):
    before = (await api.get(REQ, "/api/use-cases")).json()["total"]
    headers = {"Authorization": f"Bearer {api.tokens[REQ]}", "Content-Type": "application/json"}
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"name": ' + b"9" * 5000 + b"}", b'{"name": "\xff"}'):
        response = await api.http.post("/api/use-cases", content=body, headers=headers)
        assert response.status_code == 422, (body[:20], response.text)
        assert response.json()["detail"][0]["loc"] == ["body"] and "JSON" in response.json()["detail"][0]["msg"]
    assert (await api.get(REQ, "/api/use-cases")).json()["total"] == before
    assert (await api.http.get("/api/nowhere")).status_code == 404  # other errors as before


async def test_paging_out_of_range_is_422_naming_the_parameter(api: Api):
    for params in ({"offset": 10**25}, {"offset": OFFSET_MAX + 1}, {"offset": -1}, {"limit": 0}, {"limit": 501}):
        response = await api.get(REQ, "/api/use-cases", **params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]
    assert (await api.get(REQ, "/api/use-cases", offset=OFFSET_MAX)).status_code == 200
    bad_filter = await api.get(REQ, "/api/use-cases", status="nearly_done")
    assert bad_filter.status_code == 422 and bad_filter.json()["detail"][0]["loc"] == ["query", "status"]


async def test_an_oversized_incident_is_refused_and_the_use_case_goes_on(api: Api):
    """The defect: a 1.2 MB description was accepted into the workflow and wedged it for good."""
    uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    for who, gate in ((RISK, "v1-review-risk"), (SECURITY, "v1-review-security"), (AIMS, "v1-final-aims_owner")):
        assert (await api.decide(who, uc, gate)).status_code == 200
    await api.ok(OWNER, f"/api/use-cases/{uc}/sign-off", SIGNOFF)
    before = (await api.get(AIMS, f"/api/use-cases/{uc}/audit")).json()

    too_big = await api.post(REQ, f"/api/use-cases/{uc}/incidents", {"severity": "serious", "description": "x" * 1_200_000})
    assert too_big.status_code == 413
    too_long = await api.post(REQ, f"/api/use-cases/{uc}/incidents", {"severity": "minor", "description": "x" * 4001})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "description"]
    control = await api.post(REQ, f"/api/use-cases/{uc}/incidents", {"severity": "minor", "description": "a\x00b"})
    assert control.status_code == 422
    assert (await api.get(AIMS, f"/api/use-cases/{uc}/audit")).json() == before  # nothing changed

    state = await api.ok(REQ, f"/api/use-cases/{uc}/incidents", {"severity": "minor", "description": "x" * 4000})
    assert state["incidents"] == 1 and state["status"] == "in_production"
    state = await api.ok(OWNER, f"/api/use-cases/{uc}/reviews", REVIEW_CONTINUE)
    assert state["status"] == "under_review"


# ------------------------------------------------------------ the largest valid inputs


def largest_intake() -> dict[str, Any]:
    """Texts at their limits in four-byte characters, then `benefits` grown to fill the budget."""
    intake = code_assistant() | {"name": WIDE * 200, "purpose": WIDE * 4000, "business_unit": WIDE * 200}
    intake["sourcing"] = intake["sourcing"] | {
        "suppliers": [{"name": WIDE * 200, "model": WIDE * 200, "version_pinned": "yes", "hosting_region": WIDE * 200,
                       "gpai": "yes"}],
    }  # fmt: skip
    intake["people"] = intake["people"] | {"jurisdictions": [WIDE * 200] * 2}
    intake["operations"] = {"monitoring_plan": WIDE * 4000, "kill_switch": "yes", "incident_contact": WIDE * 200,
                            "decommission_plan": WIDE * 4000}  # fmt: skip
    return _fill_to_budget(intake, Intake, "benefits")


def largest_assessment() -> dict[str, Any]:
    risk = {"description": WIDE * 4000, "likelihood": 5, "impact": 5, "treatment": "mitigate",
            "treatment_plan": WIDE * 4000, "controls": ["A.6.2.4"] * 38}  # fmt: skip
    impact = {"stakeholder": WIDE * 200, "description": WIDE * 4000, "severity": 5, "likelihood": 5,
              "mitigation": WIDE * 2000}  # fmt: skip
    assessment = {"risks": [risk], "stakeholders": [WIDE * 200] * 3, "impacts": [impact], "conclusion": ""}
    return _fill_to_budget(assessment, actions.Assessment, "conclusion")


def _fill_to_budget(document: dict[str, Any], model: Any, field: str) -> dict[str, Any]:
    """The longest `field` (at most 4,000 characters) with which the document is still valid."""

    def valid(length: int) -> bool:
        try:
            model.model_validate(document | {field: WIDE * length})
        except ValueError:
            return False
        return True

    low, high = 1, 4000
    assert valid(low)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if valid(middle) else (low, middle - 1)
    return document | {field: WIDE * low}


def test_the_largest_valid_documents_sit_at_the_budget_and_one_more_character_is_refused():
    intake = largest_intake()
    assert DOCUMENT_MAX_BYTES - 8 <= document_size(Intake.model_validate(intake)) <= DOCUMENT_MAX_BYTES
    with pytest.raises(ValueError, match="over the 65,536-byte limit"):
        Intake.model_validate(intake | {"benefits": intake["benefits"] + WIDE})
    assessment = largest_assessment()
    assert DOCUMENT_MAX_BYTES - 8 <= document_size(actions.Assessment.model_validate(assessment)) <= DOCUMENT_MAX_BYTES


async def test_no_payload_sent_to_temporal_comes_near_its_limit(time_env: WorkflowEnvironment, database_url: str):
    """A whole lifecycle with the largest valid inputs: every event of every run stays under 256 KiB."""
    people.seed(database_url)
    async with worker_for(time_env.client, "largest", database_url):
        flow = Flow(time_env, "largest", database_url)
        intake = largest_intake()
        await flow.start(intake)
        await flow.assess(assessment=largest_assessment())
        state = flow.detail()
        comment = WIDE * 4000
        while state["status"] == "in_review":
            gate = next(g for g in state["gates"] if g["state"] == "open")
            state = await flow.decide(decider(gate["role"]), gate["id"], comment=comment)
        signoff = {"operations": OPERATIONS, "controls_in_place": ["A.6.2.4"], "comment": comment}
        state = await flow.sign_off(signoff)
        await flow.revise(intake | {"name": "Revised " + intake["name"][:150]}, reason=comment)
        await time_env.sleep(dt.timedelta(days=40))  # every stage ladder fires
        await flow.assess(assessment=largest_assessment())
        history = await time_env.client.get_workflow_handle(workflow_id(flow.id)).fetch_history()
    sizes = [event.ByteSize() for event in history.events]
    print(f"largest event in the history: {max(sizes):,} bytes over {len(sizes)} events")
    assert max(sizes) < TEMPORAL_PAYLOAD_BUDGET
    assert max(sizes) > DOCUMENT_MAX_BYTES  # the largest documents did go through
