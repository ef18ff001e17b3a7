"""Every door of issue 10, walked through over real HTTP (uvicorn on a port) and, for Temporal,
with a raw client: each is refused, and the refusal changes nothing (same state, same trail).

The server trusts one proxy, 127.0.0.2: requests this test sends from that source address come
"through the proxy"; everything else comes from 127.0.0.1, like a caller that went around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, TLSConfig
from temporalio.testing import WorkflowEnvironment

from aims.domain.actions import GateDecision
from aims.domain.commands import DecideGate
from aims.domain.durations import Duration
from aims.domain.messages import ACT_UPDATE, workflow_id
from aims.domain.state import Actor
from aims.payloads import new_key, parse_keys, sealed_converter
from aims.persistence import users
from aims.persistence.db import migrate, transaction
from aims.persistence.register import record_transition
from aims.connection import connect, tls_config
from aims.settings import Settings, SettingsError
from api import docs
from api.app import create_app
from api.headers import PAGE_POLICY
from api.web import session as web_session
from tests import domain_kit as kit
from tests import people
from tests.conftest import repo_root, worker_for
from tests.fake_slack import FakeSlack
from tests.intakes import ASSESSMENT, changed, code_assistant
from tests.net import free_port
from tests.test_api import AIMS, OWNER, REQ, RISK, settings_for
from tests.test_slack import SECRET, sign, slack_settings

PROXY = "127.0.0.2"
UI_ORIGIN = "http://127.0.0.1:8233"
OUTSIDER = "outsider@example.com"
HEADER = "X-Forwarded-Email"


@dataclasses.dataclass
class Served:
    url: str
    tokens: dict[str, str]
    database_url: str
    client: Client

    def http(self, source: str = "127.0.0.1", **kw: Any) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        return httpx.AsyncClient(base_url=self.url, transport=transport, follow_redirects=False, **kw)

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, who: str, path: str) -> httpx.Response:
        async with self.http() as http:
            return await http.get(path, headers=self.bearer(who))

    async def post(self, who: str, path: str, body: Any) -> httpx.Response:
        async with self.http() as http:
            return await http.post(path, json=body, headers=self.bearer(who))

    async def snapshot(self, use_case: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        state = (await self.get(AIMS, f"/api/use-cases/{use_case}")).json()
        trail = (await self.get(AIMS, f"/api/use-cases/{use_case}/audit")).json()["events"]
        return state, trail

    async def case_waiting_for_risk(self) -> str:
        created = await self.post(REQ, "/api/use-cases", code_assistant())
        assert created.status_code == 201, created.text
        use_case = created.json()["id"]
        assessed = await self.post(OWNER, f"/api/use-cases/{use_case}/assessment", ASSESSMENT)
        assert assessed.status_code == 200, assessed.text
        return use_case


def _boom() -> None:
    raise RuntimeError("password=hunter2 in an internal error message")


@pytest.fixture(scope="module")
async def served(dev_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Served]:
    task_queue = f"security-{uuid.uuid4()}"
    tokens = people.seed(database_url)
    with transaction(database_url) as session:
        if users.user_by_email(session, OUTSIDER) is None:
            users.add_user(session, email=OUTSIDER, name="Outsider", roles=["requester"], slack_user_id=None,
                           now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
        tokens[OUTSIDER] = users.rotate_token(
            session, users.user_by_email(session, OUTSIDER), by="tests", now=dt.datetime.now(dt.UTC)
        )
    port = free_port()
    settings = dataclasses.replace(
        settings_for(database_url, task_queue),
        public_url=f"http://127.0.0.1:{port}",
        trusted_email_header=HEADER,
        trusted_proxies=(ip_network(f"{PROXY}/32"),),
        temporal_ui_url=UI_ORIGIN,
    )
    app = create_app(settings, client=dev_env.client)
    app.add_api_route("/api/test-explode", _boom)  # the one way to reach the unexpected-error handler
    async with worker_for(dev_env.client, task_queue, database_url), serving(app, port) as url:
        yield Served(url, tokens, database_url, dev_env.client)


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


# ---------------------------------------------------------------- 1. Temporal holds nothing readable or forgeable


def _forged_approval(use_case: str) -> DecideGate:
    return DecideGate(
        actor=Actor(email="mallory@evil.example", roles=["risk", "aims_owner"]),
        gate_id="v1-review-risk",
        body=GateDecision(decision="approve", comment="forged"),
    )


@pytest.mark.parametrize("keys", ["none", "wrong"])
async def test_a_raw_temporal_client_can_neither_forge_a_decision_nor_read_a_history(served: Served, keys: str):
    use_case = await served.case_waiting_for_risk()
    before = await served.snapshot(use_case)
    target = served.client.service_client.config.target_host
    # An attacker with the code but not the key: aims' own JSON converter, unsealed or sealed with another key.
    converter = pydantic_data_converter if keys == "none" else sealed_converter(parse_keys(new_key("mallory")))
    raw = await Client.connect(target, namespace=served.client.namespace, data_converter=converter)
    handle = raw.get_workflow_handle(workflow_id(use_case))

    for update, args in ((ACT_UPDATE, [_forged_approval(use_case)]), ("decide_gate", ["v1-review-risk", {}])):
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(update, args=args, result_type=dict)

    # The history is sealed: no intake answer, e-mail or gate id in any payload.
    history = await raw.get_workflow_handle(workflow_id(use_case)).fetch_history()
    raw_bytes = history.to_json()
    for secret in ("Code assistant", "req@example.com", "owner@example.com", "v1-review-risk", "personal"):
        assert secret not in raw_bytes, secret
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert started.metadata["encoding"] == b"binary/aims-sealed"

    # Nothing changed, and the workflow is not wedged: the real risk officer still decides.
    assert await served.snapshot(use_case) == before
    decided = await served.post(RISK, f"/api/use-cases/{use_case}/gates/v1-review-risk/decision", {"decision": "approve"})
    assert decided.status_code == 200, decided.text
    trail = (await served.get(AIMS, f"/api/use-cases/{use_case}/audit")).json()["events"]
    assert [e["actor"] for e in trail if e["type"] == "gate_decided"] == [RISK]


async def test_the_codec_endpoint_opens_payloads_for_the_aims_owner_only(served: Served):
    use_case = await served.case_waiting_for_risk()
    # The payloads as the Temporal UI gets them from the server: sealed (histories are not decoded).
    history = await served.client.get_workflow_handle(workflow_id(use_case)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input
    body = json_format.MessageToJson(Payloads(payloads=list(started.payloads)))

    async with served.http() as http:
        headers = {"Content-Type": "application/json", "X-Namespace": "default", "Origin": UI_ORIGIN}
        opened = await http.post("/codec/decode", content=body, headers=headers | served.bearer(AIMS))
        assert opened.status_code == 200, opened.text
        assert opened.headers["access-control-allow-origin"] == UI_ORIGIN
        assert opened.headers["access-control-allow-credentials"] == "true"
        decoded = Payloads()
        json_format.Parse(opened.content, decoded)
        assert decoded.payloads[0].metadata["encoding"] == b"json/plain"
        assert use_case in decoded.payloads[0].data.decode()

        assert (await http.post("/codec/decode", content=body, headers=headers)).status_code == 401
        refused = await http.post("/codec/decode", content=body, headers=headers | served.bearer(RISK))
        assert refused.status_code == 403 and "AIMS owner" in refused.text
        for garbage in (b"{nope", b"\xa4zKD\x18"):  # the second one, not UTF-8, was a 500 found by schemathesis
            bad = await http.post("/codec/decode", content=garbage, headers=headers | served.bearer(AIMS))
            assert bad.status_code == 422 and bad.json()["detail"]["field"] == "payloads"
        assert (await http.post("/codec/encode", content=body, headers=headers | served.bearer(AIMS))).status_code in (404, 405)

        preflight = await http.options("/codec/decode", headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
        elsewhere = await http.options("/codec/decode", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in elsewhere.headers


def test_temporal_tls_and_api_key_come_from_the_environment(tmp_path: Path, monkeypatch):
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_bytes(f"-- {name} --".encode())
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(tmp_path / "key.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("TEMPORAL_API_KEY", "an-api-key")
    settings = Settings.from_env()
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig) and settings.temporal_api_key == "an-api-key"
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (b"-- cert --", b"-- key --", b"-- ca --")
    with pytest.raises(SettingsError, match="go together"):
        tls_config(dataclasses.replace(settings, temporal_tls_key=None))
    with pytest.raises(SettingsError, match="cannot read"):
        tls_config(dataclasses.replace(settings, temporal_tls_ca=tmp_path / "missing.pem"))
    plain = dataclasses.replace(settings, temporal_tls_cert=None, temporal_tls_key=None, temporal_tls_ca=None)
    assert tls_config(plain) is True  # an API key alone: TLS with the system's CAs (Temporal Cloud)
    assert tls_config(dataclasses.replace(plain, temporal_api_key=None)) is False


async def test_with_tls_configured_aims_does_not_fall_back_to_plaintext(served: Served, tmp_path: Path):
    """The dev server speaks plaintext only: a client told to use TLS must fail, not downgrade."""
    settings = dataclasses.replace(
        Settings.from_env(), temporal_address=served.client.service_client.config.target_host,
        temporal_tls_ca=None, temporal_tls_cert=None, temporal_tls_key=None, temporal_api_key="an-api-key",
    )  # fmt: skip
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(connect(settings), timeout=30)


# ---------------------------------------------------------------- 2. proxy sign-in only through the proxy


async def test_the_email_header_signs_in_only_through_a_trusted_proxy(served: Served, caplog):
    with caplog.at_level(logging.WARNING, logger="api.web.auth"):
        async with served.http() as around:
            response = await around.get("/", headers={HEADER: AIMS})
        assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    assert any("not a trusted proxy" in record.getMessage() for record in caplog.records)

    async with served.http(source=PROXY) as proxy:
        through = await proxy.get("/", headers={HEADER: AIMS})
    assert through.status_code == 200 and "Aims" in through.text


def test_a_trusted_header_without_trusted_proxies_stops_aims_at_start(database_url: str, tmp_path: Path):
    settings = dataclasses.replace(settings_for(database_url, "unused"), trusted_email_header=HEADER, trusted_proxies=())
    with pytest.raises(SettingsError, match="AIMS_TRUSTED_PROXIES"):
        create_app(settings)
    environment = os.environ | {"AIMS_DATA_DIR": str(tmp_path), "AIMS_TRUSTED_EMAIL_HEADER": HEADER}
    environment.pop("AIMS_TRUSTED_PROXIES", None)
    result = subprocess.run(
        [sys.executable, "-m", "aims.cli", "api", "--port", str(free_port())],
        env=environment, capture_output=True, text=True, timeout=60, cwd=repo_root(),
    )  # fmt: skip
    assert result.returncode == 2 and "AIMS_TRUSTED_PROXIES" in result.stderr


# ---------------------------------------------------------------- 3. accounts with a lifecycle


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"AIMS_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "aims.cli", "users", *args, "--by", "security-test"],
        env=environment, capture_output=True, text=True, timeout=60, cwd=repo_root(),
    )  # fmt: skip


async def _signed_in(served: Served, token: str) -> httpx.Cookies:
    async with served.http() as http:
        form = await http.get("/sign-in")
        csrf = form.cookies[web_session.SIGN_IN_COOKIE]
        signed = await http.post("/sign-in", data={"token": token, "csrf": csrf})
        assert signed.status_code == 303, signed.text
        return http.cookies


async def _page_status(served: Served, cookies: httpx.Cookies) -> int:
    async with served.http(cookies=cookies) as http:
        return (await http.get("/")).status_code


async def test_revoked_rotated_and_expired_tokens_and_deactivated_users_are_refused(served: Served):
    email = f"leaver-{uuid.uuid4().hex[:6]}@example.com"
    added = _cli(served.database_url, "add", "--email", email, "--name", "Leaver", "--role", "risk")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    served.tokens[email] = token
    assert (await served.get(email, "/api/me")).status_code == 200

    # Rotate: the new token (last line) works, the old one and the web session do not.
    cookies = await _signed_in(served, token)
    assert await _page_status(served, cookies) == 200
    rotated = _cli(served.database_url, "rotate-token", email)
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip().splitlines()[-1]
    assert (await served.get(email, "/api/me")).status_code == 401
    assert await _page_status(served, cookies) == 303
    served.tokens[email] = new_token
    assert (await served.get(email, "/api/me")).status_code == 200

    # Revoke: the token and its sessions end.
    cookies = await _signed_in(served, new_token)
    assert _cli(served.database_url, "revoke-token", email).returncode == 0
    assert (await served.get(email, "/api/me")).status_code == 401
    assert await _page_status(served, cookies) == 303

    # An expiring token stops at its expiry.
    with transaction(served.database_url) as session:
        user = users.user_by_email(session, email)
        served.tokens[email] = users.rotate_token(
            session, user, by="security-test", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=91),
            expires=Duration.parse("P90D"),
        )  # fmt: skip
    assert (await served.get(email, "/api/me")).status_code == 401

    # Every change is on the system chain, with who made it.
    trail = (await served.get(AIMS, "/api/audit/system")).json()
    assert trail["verified"] is True
    mine = [(e["type"], e["actor"]) for e in trail["events"] if e["data"].get("email") == email]
    assert [kind for kind, _ in mine][:3] == ["user_added", "token_rotated", "token_revoked"]
    assert {actor for _, actor in mine} == {"security-test"}
    assert (await served.get(OUTSIDER, "/api/audit/system")).status_code == 403


async def test_a_deactivated_approver_is_refused_and_their_gates_show_unassigned(served: Served):
    email = f"sole-{uuid.uuid4().hex[:6]}@example.com"
    added = _cli(served.database_url, "add", "--email", email, "--name", "Sole", "--role", "legal")
    token = added.stdout.strip().splitlines()[-1]
    served.tokens[email] = token
    cookies = await _signed_in(served, token)
    assert _cli(served.database_url, "set-roles", email, "--role", "legal", "--role", "privacy").returncode == 0
    assert sorted((await served.get(email, "/api/me")).json()["roles"]) == ["legal", "privacy", "requester"]

    assert _cli(served.database_url, "deactivate", email).returncode == 0
    assert (await served.get(email, "/api/me")).status_code == 401
    assert await _page_status(served, cookies) == 303
    async with served.http(source=PROXY) as proxy:  # not even through the proxy
        assert (await proxy.get("/", headers={HEADER: email})).status_code == 303
    stalled = (await served.get(AIMS, "/api/approvals/stalled")).json()
    assert all(email not in item.get("assignees", []) for item in stalled)


# ---------------------------------------------------------------- 4. who may read what


async def test_full_detail_is_for_those_involved_and_governance(served: Served):
    use_case = await served.case_waiting_for_risk()
    register = await served.get(OUTSIDER, "/api/use-cases")
    assert register.status_code == 200 and any(item["id"] == use_case for item in register.json()["items"])
    for path in (f"/api/use-cases/{use_case}", f"/api/use-cases/{use_case}/audit"):
        refused = await served.get(OUTSIDER, path)
        assert refused.status_code == 403 and "requester, business owners" in refused.text, refused.text
    async with served.http(cookies=await _signed_in(served, served.tokens[OUTSIDER])) as browser:
        assert (await browser.get(f"/use-cases/{use_case}")).status_code == 403
    for reader in (REQ, OWNER, RISK, AIMS):
        assert (await served.get(reader, f"/api/use-cases/{use_case}")).status_code == 200, reader


# ---------------------------------------------------------------- 5. web and API defences


async def test_oversized_bodies_get_413_before_anything_reads_them(served: Served):
    use_case = await served.case_waiting_for_risk()
    before = await served.snapshot(use_case)
    huge = {"description": "x" * (1024 * 1024 + 1), "severity": "serious"}
    async with served.http() as http:
        response = await http.post(f"/api/use-cases/{use_case}/incidents", json=huge, headers=served.bearer(OWNER))
        unauthenticated = await http.post("/api/use-cases", content=b"{" + b" " * (1024 * 1024 + 1))
    assert response.status_code == 413 and unauthenticated.status_code == 413
    assert await served.snapshot(use_case) == before


async def test_sign_in_needs_its_csrf_token_and_cookies_follow_the_public_url(served: Served):
    async with served.http() as http:
        await http.get("/sign-in")
        forged = await http.post("/sign-in", data={"token": served.tokens[AIMS], "csrf": "guess"})
        assert forged.status_code == 403 and web_session.COOKIE not in forged.cookies
        http.cookies.clear()
        no_cookie = await http.post("/sign-in", data={"token": served.tokens[AIMS], "csrf": ""})
        assert no_cookie.status_code == 403
    assert not web_session.secure_cookies("http://127.0.0.1:8000")
    assert not web_session.secure_cookies("http://localhost:8000")
    assert web_session.secure_cookies("https://aims.example.com")
    assert web_session.secure_cookies("http://aims.example.com")  # plain http elsewhere is still not trusted


async def test_signing_out_ends_the_session_on_the_server(served: Served):
    cookies = await _signed_in(served, served.tokens[RISK])
    async with served.http(cookies=cookies) as http:
        page = await http.get("/approvals")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert (await http.post("/sign-out", data={"csrf": csrf})).status_code == 303
    assert await _page_status(served, cookies) == 303  # the stolen copy of the cookie is dead too


async def test_every_response_carries_the_security_headers_and_pages_run_nothing_inline(served: Served):
    cookies = await _signed_in(served, served.tokens[AIMS])
    async with served.http(cookies=cookies) as http:
        for path in ("/", "/use-cases/new", "/use-cases", "/approvals", "/stalled", "/sign-in", "/api/me", "/nope"):
            response = await http.get(path, headers=served.bearer(AIMS) if path.startswith("/api") else {})
            assert response.headers["content-security-policy"] == PAGE_POLICY, path
            assert "frame-ancestors 'none'" in PAGE_POLICY and "default-src 'self'" in PAGE_POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"
            if response.headers["content-type"].startswith("text/html"):
                text = response.text
                assert "<style" not in text and " style=" not in text and "javascript:" not in text, path
                assert all(tag.startswith("<script src=") for tag in _tags(text, "<script")), path
        assert (await http.get("/static/aims.css")).status_code == 200
        assert (await http.get("/static/forms.js")).status_code == 200
        icon = await http.get("/favicon.ico")  # no 404 in every browser's console
        assert icon.status_code == 301 and icon.headers["location"] == "/static/favicon.svg"
        assert (await http.get("/static/favicon.svg")).headers["content-type"] == "image/svg+xml"


async def test_a_page_shows_only_the_messages_aims_signed(served: Served):
    """A link from elsewhere cannot make a page say "your token has expired, mail it to …"."""
    cookies = await _signed_in(served, served.tokens[RISK])
    lure = "Your token has expired: mail it to it@evil.example"
    async with served.http(cookies=cookies) as http:
        for query in ({"msg": lure}, {"msg": lure, "sig": "0" * 32}):
            page = await http.get("/approvals", params=query)
            assert page.status_code == 200 and "evil.example" not in page.text
        settings_page = await http.get("/settings/notifications")
        csrf = settings_page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        saved = await http.post("/settings/notifications", data={"csrf": csrf})
        assert saved.status_code == 303
        assert 'role="status">Saved.<' in (await http.get(saved.headers["location"])).text


async def test_the_openapi_page_is_served_by_aims_itself_with_no_cdn_and_no_inline_script(served: Served):
    """/docs works on a network without the internet: Swagger UI comes from this server."""
    async with served.http() as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert policy == docs.POLICY and "http" not in policy and "script-src" not in policy  # scripts: 'self' only
        assert "http" not in page.text  # every asset is ours
        assert all(tag.startswith("<script src=") for tag in _tags(page.text, "<script"))
        for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            asset = await http.get(src)
            assert asset.status_code == 200 and asset.content, src
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.get("/redoc")).status_code == 404  # ReDoc would need its CDN


def _tags(html: str, start: str) -> list[str]:
    return [start + piece.split(">", 1)[0] for piece in html.split(start)[1:]]


async def test_csv_cells_cannot_run_as_formulas(served: Served):
    formula = "=HYPERLINK(\"https://evil.example\",\"click\")"
    created = await served.post(REQ, "/api/use-cases", changed(code_assistant(), name=formula))
    assert created.status_code == 201
    cookies = await _signed_in(served, served.tokens[AIMS])
    async with served.http(cookies=cookies) as http:
        exported = await http.get("/use-cases", params={"format": "csv"})
    assert exported.status_code == 200
    cells = [line.split(",", 2)[1] if "," in line else line for line in exported.text.splitlines()]
    assert not any(cell.startswith(("=", "+", "-", "@", '"=')) for cell in cells)
    assert "'=HYPERLINK" in exported.text


async def test_the_csv_export_streams_every_row(tmp_path: Path):
    """Not the first 500: a register of 620 use cases (loaded straight into its own database)."""
    database_url = f"sqlite:///{tmp_path / 'register.db'}"
    migrate(database_url)
    now = dt.datetime.now(dt.UTC)
    with transaction(database_url) as session:
        _, token = users.add_user(session, email=AIMS, name="Aims", roles=["aims_owner"], slack_user_id=None,
                                  now=now, by="tests")  # fmt: skip
        for index in range(620):
            state, transition = kit.begin(changed(code_assistant(), name=f"Use case {index}"), REQ, now)
            state = state.model_copy(update={"id": str(uuid.UUID(int=index + 1))})
            record_transition(session, state, transition, now, channels=[])
    app = create_app(settings_for(database_url, "unused"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as browser:
        form = await browser.get("/sign-in")
        csrf = form.cookies[web_session.SIGN_IN_COOKIE]
        assert (await browser.post("/sign-in", data={"token": token, "csrf": csrf})).status_code == 303
        exported = await browser.get("/use-cases", params={"format": "csv"})
    rows = exported.text.strip().splitlines()
    assert exported.status_code == 200 and len(rows) == 1 + 620
    assert {f"Use case {index}" for index in range(620)} <= {row.split(",")[1] for row in rows[1:]}


async def test_unexpected_errors_give_an_id_never_internal_text(served: Served, caplog):
    with caplog.at_level(logging.ERROR, logger="api.app"):
        response = await served.get(AIMS, "/api/test-explode")
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail["error"] == "internal" and detail["error_id"] in detail["message"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert any(detail["error_id"] in record.getMessage() for record in caplog.records)


# ---------------------------------------------------------------- 6. Slack checks the workspace


async def test_slack_requests_from_another_workspace_or_app_or_unsigned_are_refused(
    served: Served, dev_env: WorkflowEnvironment
):  # fmt: skip
    fake = FakeSlack().start()
    try:
        settings = slack_settings(fake, served.database_url, f"unused-{uuid.uuid4()}", slack_team_id="T0FAKE",
                                  slack_app_id="A0AIMS")  # fmt: skip
        app = create_app(settings, client=dev_env.client)
        async with serving(app, free_port()) as url, httpx.AsyncClient(base_url=url) as http:

            async def interact(team: str, app_id: str, secret: str = SECRET, skew: int = 0) -> httpx.Response:
                payload = {"type": "block_actions", "team": {"id": team}, "api_app_id": app_id,
                           "user": {"id": "URISK"}, "actions": []}  # fmt: skip
                body = urlencode({"payload": json.dumps(payload)}).encode()
                timestamp = str(int(time.time()) + skew)
                headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(secret, timestamp, body),
                           "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
                return await http.post("/slack/interactions", content=body, headers=headers)

            assert (await interact("T0EVIL", "A0AIMS")).status_code == 403
            assert (await interact("T0FAKE", "A0OTHER")).status_code == 403
            assert (await interact("T0FAKE", "A0AIMS", secret="not-the-signing-secret")).status_code == 401
            assert (await interact("T0FAKE", "A0AIMS", skew=-400)).status_code == 401
        assert not fake.called("chat.postMessage") and not fake.called("chat.update")
    finally:
        fake.stop()
