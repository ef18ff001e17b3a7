"""Slack end to end: the real slack-sdk client against a fake Slack Web API, signed requests
into the API, a real worker on the Temporal dev server (and the time-skipping one for SLAs)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from aims.persistence import models, outbox, queries, users
from aims.persistence.db import transaction
from tests.conftest import worker_for
from aims.settings import Settings, SettingsError
from api.app import create_app
from activities.channels import PermanentDeliveryError
from notifications.slack.client import call, web_client
from notifications.slack.door import SlackDoor
from activities.channels import Delivery, GateSummary, Recipient, UseCaseSummary, gate_summary, use_case_summary
from notifications.slack import blocks
from notifications.slack.channel import SlackChannel, reference
from tests import people
from tests.fake_slack import FakeSlack
from tests.intakes import ASSESSMENT, changed, code_assistant, invoice_ocr
from tests.net import free_port
from tests.test_api import AIMS, OWNER, REQ, RISK, SECURITY, Api

SECRET = "test-signing-secret-0123456789"
SLACK_IDS = {
    REQ: "UREQ", OWNER: "UOWNER", RISK: "URISK", SECURITY: "USEC", AIMS: "UAIMS",
    "exec@example.com": "UEXEC", "legal@example.com": "ULEGAL", "privacy@example.com": "UPRIV",
}  # fmt: skip


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


async def eventually(check: Callable[[], Any], seconds: float = 15) -> Any:
    """Wait for background work (notice delivery) to show; polls, never sleeps a fixed time."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def background_work_never_fails(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """What a click starts after answering Slack only logs its failures: here they fail the test."""
    yield
    failed = [r for r in caplog.records if r.name == "notifications.slack.door" and r.levelno >= logging.ERROR]
    assert not failed, [r.getMessage() + str(r.exc_info) for r in failed]


@pytest.fixture(scope="module")
def fake() -> Any:
    server = FakeSlack().start()
    server.directory.update(SLACK_IDS)
    yield server
    server.stop()


def slack_settings(fake: FakeSlack, database_url: str, task_queue: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "task_queue": task_queue,
        "slack_bot_token": fake.token,
        "slack_signing_secrets": (SECRET,),
        "slack_api_url": fake.url,
        "slack_channel": "C0GOV",
        "public_url": "https://aims.example",
    }
    return dataclasses.replace(Settings.from_env(), **(values | changes))


# The app's clock for signatures: fixed, so the ±300 s window is exact in every run.
NOW = 1_800_000_000


@dataclasses.dataclass
class Slack:
    api: Api
    http: httpx.AsyncClient
    fake: FakeSlack
    database_url: str
    door: SlackDoor
    app: Any = None

    async def signed(self, path: str, body: bytes, *, secret: str = SECRET, skew: int = 0) -> httpx.Response:
        timestamp = str(NOW + skew)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(secret, timestamp, body),
        }
        response = await self.http.post(path, content=body, headers=headers)
        await self.door.settle()  # what the answer started in the background is done
        return response

    async def interact(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        return await self.signed("/slack/interactions", body, **kw)

    async def click(
        self, slack_user: str, prompt: dict[str, Any], action_id: str, team: str | None = None,
        app: str | None = None, **kw: Any,
    ) -> httpx.Response:  # fmt: skip
        button = next(
            e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id
        )
        payload = {
            "type": "block_actions",
            "user": {"id": slack_user},
            "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
            "container": {"type": "message", "message_ts": prompt["ts"], "channel_id": prompt["channel_id"]},
            "message": {"ts": prompt["ts"], "text": prompt["text"], "blocks": prompt["blocks"]},
            "actions": [{"action_id": action_id, "value": button["value"], "action_ts": str(time.time())}],
        }
        if team:
            payload["team"] = {"id": team}
        if app:
            payload["api_app_id"] = app
        return await self.interact(payload, **kw)

    async def submit_reason(self, slack_user: str, view: dict[str, Any], reason: str) -> httpx.Response:
        payload = {
            "type": "view_submission",
            "user": {"id": slack_user},
            "view": {
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}},
            },
        }
        return await self.interact(payload)

    async def command(self, slack_user: str, text: str) -> httpx.Response:
        body = urlencode({"command": "/aims", "text": text, "user_id": slack_user, "channel_id": "C1"}).encode()
        return await self.signed("/slack/commands", body)

    def prompts_to(self, slack_user: str, use_case_id: str) -> list[dict[str, Any]]:
        return [
            {**m, "channel_id": channel}
            for channel, messages in self.fake.messages.items()
            if channel == "D" + slack_user
            for m in messages
            if (m.get("metadata") or {}).get("event_payload", {}).get("use_case_id") == use_case_id
            and any(b["type"] == "actions" for b in m.get("blocks") or [])
        ]

    async def prompt(self, slack_user: str, use_case_id: str, gate_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next(
                (p for p in self.prompts_to(slack_user, use_case_id) if f"`{gate_id}`" in json.dumps(p["blocks"])),
                None,
            )

        return await eventually(find)

    async def state(self, use_case_id: str) -> dict[str, Any]:
        return (await self.api.get(AIMS, f"/api/use-cases/{use_case_id}")).json()


@pytest.fixture(scope="module")
async def slack(dev_env: WorkflowEnvironment, database_url: str, fake: FakeSlack) -> AsyncIterator[Slack]:
    task_queue = f"slack-{uuid.uuid4()}"
    settings = slack_settings(fake, database_url, task_queue)
    tokens = people.seed(database_url)
    app = create_app(settings, client=dev_env.client)
    app.state.slack.clock = FixedClock(NOW)
    async with worker_for(dev_env.client, task_queue, database_url, [SlackChannel(settings)]):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
            yield Slack(Api(http, tokens), http, fake, database_url, app.state.slack, app)


async def new_case(slack: Slack, intake: dict[str, Any] | None = None, requester: str = REQ) -> str:
    uc = (await slack.api.ok(requester, "/api/use-cases", intake or code_assistant()))["id"]
    await slack.api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    return uc


# ---------------------------------------------------------------- prompts and decisions


async def test_an_approver_takes_a_use_case_to_approved_entirely_from_slack(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    text = json.dumps(prompt["blocks"])
    for expected in ("Internal code assistant", "T2_MEDIUM", "MINIMAL", "req@example.com", "owner@example.com",
                     "SEC-2", f"https://aims.example/use-cases/{uc}", "aims_approve", "aims_reject",
                     "aims_request_changes", "<!date^"):  # fmt: skip
        assert expected in text, expected
    assert prompt["text"].startswith("Decision needed: Internal code assistant")
    # Only eligible approvers are prompted: never the requester or the business owner.
    assert not slack.prompts_to("UREQ", uc) and not slack.prompts_to("UOWNER", uc)

    started = time.perf_counter()
    response = await slack.click("URISK", prompt, "aims_approve")
    assert response.status_code == 200 and time.perf_counter() - started < 3
    state = await slack.state(uc)
    risk = next(g for g in state["gates"] if g["id"] == "v1-review-risk")
    assert (risk["state"], risk["decided_by"]) == ("approved", RISK)

    # The prompt is updated in place: outcome, who and when; no more buttons.
    def updated() -> bool:
        return any(u["ts"] == prompt["ts"] for u in slack.fake.called("chat.update"))

    await eventually(updated)
    updates = [u for u in slack.fake.called("chat.update") if u["ts"] == prompt["ts"]]
    recording = updates[0]["blocks"]  # shown at once, from the clicked message, buttons kept
    assert "Recording your decision" in json.dumps(recording)
    assert [b["type"] for b in recording if b["type"] == "actions"] == ["actions"]
    outcome = updates[-1]
    assert "Approved by risk@example.com" in json.dumps(outcome["blocks"])
    assert not any(b["type"] == "actions" for b in outcome["blocks"])
    # Marked finalised in the register (the delivery activity leaves it alone), that prompt only.
    where = (models.Delivery.reference == reference(prompt["channel_id"], prompt["ts"]))
    security, marked = await slack.prompt("USEC", uc, "v1-review-security"), dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
    with transaction(slack.database_url) as session:
        session.execute(update(models.Delivery).where(where).values(finalized_at=None))
        outbox.mark_finalized(session, uc, "v1-review-risk", "slack", reference(prompt["channel_id"], prompt["ts"]), marked)
        outbox.mark_finalized(session, uc, "v1-review-risk", "slack", reference("DUSEC", security["ts"]), marked)
    with transaction(slack.database_url) as session:
        assert session.scalar(select(models.Delivery.finalized_at).where(where)) == marked
        assert session.scalar(select(models.Delivery.finalized_at).where(
            models.Delivery.reference == reference("DUSEC", security["ts"]))) is None  # fmt: skip

    # A click on a gate someone already decided is refused, with who decided it.
    await slack.click("USEC", prompt, "aims_approve")
    assert "not open: it is approved (approve by risk@example.com)" in slack.fake.called("chat.postEphemeral")[-1]["text"]

    await slack.click("USEC", await slack.prompt("USEC", uc, "v1-review-security"), "aims_approve")
    await slack.click("UAIMS", await slack.prompt("UAIMS", uc, "v1-final-aims_owner"), "aims_approve")
    assert (await slack.state(uc))["status"] == "approved"


async def test_reject_with_a_reason_from_the_modal(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    response = await slack.click("URISK", prompt, "aims_reject")
    assert response.status_code == 200
    opened = slack.fake.called("views.open")[-1]
    assert opened["trigger_id"].startswith("trigger-") and opened["view"]["callback_id"] == "aims_reason"
    assert (await slack.state(uc))["status"] == "in_review"  # nothing decided before the reason

    empty = await slack.submit_reason("URISK", opened["view"], "   ")
    assert empty.json() == {"response_action": "errors", "errors": {"reason": "Please say why."}}
    done = await slack.submit_reason("URISK", opened["view"], "Supplier may train on our code")
    assert done.status_code == 200 and done.content == b""
    state = await slack.state(uc)
    assert state["status"] == "rejected"
    assert next(g for g in state["gates"] if g["id"] == "v1-review-risk")["comment"] == "Supplier may train on our code"


async def test_request_changes_from_slack(slack: Slack):
    uc = await new_case(slack)
    await slack.click("USEC", await slack.prompt("USEC", uc, "v1-review-security"), "aims_request_changes")
    view = slack.fake.called("views.open")[-1]["view"]
    await slack.submit_reason("USEC", view, "Turn on event logging")
    assert (await slack.state(uc))["status"] == "changes_requested"


# ---------------------------------------------------------------- refusals


async def test_refused_clicks_are_explained_privately_and_change_nothing(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    before = await slack.state(uc)

    await slack.click("USEC", prompt, "aims_approve")  # not a risk approver
    ephemeral = slack.fake.called("chat.postEphemeral")[-1]
    assert ephemeral["user"] == "USEC" and "risk role" in ephemeral["text"]
    assert ephemeral["channel"] == prompt["channel_id"]

    await slack.click("UNOBODY", prompt, "aims_approve")  # not an aims user at all
    assert "not an aims user" in slack.fake.called("chat.postEphemeral")[-1]["text"]
    assert await slack.state(uc) == before


async def test_requests_from_another_workspace_or_app_get_403_and_change_nothing(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    before = await slack.state(uc)
    original = slack.door.settings
    slack.door.settings = dataclasses.replace(original, slack_team_id="T0FAKE", slack_app_id="A0AIMS")
    try:
        for team, app in (("T0EVIL", "A0AIMS"), ("T0FAKE", "A0OTHER"), (None, None)):
            assert (await slack.click("URISK", prompt, "aims_approve", team=team, app=app)).status_code == 403
        body = urlencode({"command": "/aims", "text": "pending", "user_id": "URISK", "team_id": "T0EVIL"}).encode()
        assert (await slack.signed("/slack/commands", body)).status_code == 403
        assert await slack.state(uc) == before
        assert (await slack.click("URISK", prompt, "aims_approve", team="T0FAKE", app="A0AIMS")).status_code == 200
        decided = await slack.state(uc)
        assert any(g["id"] == "v1-review-risk" and g["decided_by"] == RISK for g in decided["gates"])
    finally:
        slack.door.settings = original


async def test_with_temporal_down_a_click_is_told_privately_and_nothing_is_decided(slack: Slack):
    """The register answers the checks, so Slack is acknowledged; the Update cannot be sent, and
    the clicker hears why from the background (the SDK's failed connect went unhandled there)."""
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    nowhere = dataclasses.replace(
        slack_settings(slack.fake, slack.database_url, "unused"), temporal_address=f"127.0.0.1:{free_port()}"
    )
    app = create_app(nowhere)
    app.state.slack.clock = FixedClock(NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
        down = dataclasses.replace(slack, http=http, door=app.state.slack, app=app)
        response = await down.click("URISK", prompt, "aims_approve")
    assert response.status_code == 200
    told = slack.fake.called("chat.postEphemeral")[-1]
    assert told["user"] == "URISK" and "Not recorded: the workflow service is unavailable" in told["text"]
    risk = next(g for g in (await slack.state(uc))["gates"] if g["id"] == "v1-review-risk")
    assert risk["state"] == "open"


async def test_past_its_bound_background_work_is_refused_with_503_and_retry_after(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    before = await slack.state(uc)
    slack.door.max_pending = 0
    try:
        response = await slack.click("URISK", prompt, "aims_approve")
    finally:
        slack.door.max_pending = 200
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert await slack.state(uc) == before
    assert (await slack.click("URISK", prompt, "aims_approve")).status_code == 200  # once there is room


async def test_a_slack_id_is_bound_to_an_aims_user_only_within_our_workspace(slack: Slack):
    email = f"newbie-{uuid.uuid4().hex[:6]}@example.com"
    with transaction(slack.database_url) as session:
        users.add_user(session, email=email, name="Newbie", roles=["risk"], slack_user_id=None,
                       now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
    slack.fake.directory[email] = "UNEWBIE"  # the fake says its users are in team T0FAKE
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    original = slack.door.settings
    try:
        slack.door.settings = dataclasses.replace(original, slack_team_id="T0OTHER")
        await slack.click("UNEWBIE", prompt, "aims_approve", team="T0OTHER")
        assert "not an aims user" in slack.fake.called("chat.postEphemeral")[-1]["text"]
        with transaction(slack.database_url) as session:
            assert users.user_by_email(session, email).slack_user_id is None
        slack.door.settings = dataclasses.replace(original, slack_team_id="T0FAKE")
        await slack.click("UNEWBIE", prompt, "aims_approve", team="T0FAKE")
        with transaction(slack.database_url) as session:
            assert users.user_by_email(session, email).slack_user_id == "UNEWBIE"
    finally:
        slack.door.settings = original
        slack.fake.directory.pop(email)


async def test_a_withdrawal_rewrites_the_approvers_prompts(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    await slack.api.ok(OWNER, f"/api/use-cases/{uc}/withdrawal", {"reason": "Not needed after all"})

    def rewritten() -> bool:
        updates = [u for u in slack.fake.called("chat.update") if u["ts"] == prompt["ts"]]
        return bool(updates) and not any(b["type"] == "actions" for b in updates[-1]["blocks"])

    assert await eventually(rewritten)


async def test_nobody_approves_their_own_use_case_from_slack(slack: Slack):
    uc = await new_case(slack, changed(code_assistant(), business_owner=OWNER), requester=RISK)
    prompt = await slack.prompt("USEC", uc, "v1-review-security")
    # The risk officer requested it; forward them the security prompt's risk twin via the button value.
    risk_value = prompt["blocks"][-1]["elements"][0]["value"].replace("v1-review-security", "v1-review-risk")
    prompt["blocks"][-1]["elements"][0]["value"] = risk_value
    await slack.click("URISK", prompt, "aims_approve")
    assert "no self-approval" in slack.fake.called("chat.postEphemeral")[-1]["text"]
    assert not slack.prompts_to("URISK", uc)  # and they were never prompted


async def test_a_double_click_decides_once(slack: Slack):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    first, second = await asyncio.gather(
        slack.click("URISK", prompt, "aims_approve"), slack.click("URISK", prompt, "aims_approve")
    )
    assert first.status_code == second.status_code == 200
    trail = (await slack.api.get(AIMS, f"/api/use-cases/{uc}/audit")).json()["events"]
    assert [e["data"]["gate_id"] for e in trail if e["type"] == "gate_decided"] == ["v1-review-risk"]
    # Clicked again later, the same decision is answered as recorded, not refused as "not open".
    refusals_before = len(slack.fake.called("chat.postEphemeral"))
    await slack.click("URISK", prompt, "aims_approve")
    assert len(slack.fake.called("chat.postEphemeral")) == refusals_before
    final = [u for u in slack.fake.called("chat.update") if u["ts"] == prompt["ts"]][-1]
    assert "Approved by risk@example.com" in json.dumps(final["blocks"])


async def test_a_slack_fault_for_one_recipient_leaves_the_others_delivered(slack: Slack):
    """The security officer's DM channel is gone: they are marked failed, everyone else is prompted."""
    slack.fake.fail_for("chat.postMessage", channel="USEC", body={"ok": False, "error": "channel_not_found"})
    try:
        uc = await new_case(slack)
        await slack.prompt("URISK", uc, "v1-review-risk")
        await _check_only_security_failed(slack, uc)
    finally:
        slack.fake.channel_failures.clear()


def slack_deliveries(slack: Slack, uc: str, kind: str | None = None) -> list[models.Delivery]:
    with transaction(slack.database_url) as session:
        query = (
            select(models.Delivery)
            .join(models.Notification, models.Notification.id == models.Delivery.notification_id)
            .where(models.Notification.use_case_id == uc, models.Delivery.channel == "slack")
        )
        if kind:
            query = query.where(models.Notification.kind == kind)
        return list(session.scalars(query))


def settled(deliveries: list[models.Delivery]) -> bool:
    """Every delivery sent, or refused for good (someone in the cast may have no Slack account)."""
    return bool(deliveries) and all(d.delivered_at is not None or d.error for d in deliveries)


async def _check_only_security_failed(slack: Slack, uc: str) -> None:
    done = await eventually(lambda: d if settled(d := slack_deliveries(slack, uc, "gate_request")) else None)
    by_recipient = {row.notification.recipient: row for row in done}
    assert by_recipient[SECURITY].error == "channel_not_found" and by_recipient[SECURITY].delivered_at is None
    assert by_recipient[RISK].delivered_at is not None and by_recipient[RISK].error is None
    assert not slack.prompts_to("USEC", uc)


async def test_a_stale_button_from_an_earlier_version_is_refused(slack: Slack):
    uc = await new_case(slack)
    old_prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    await slack.api.ok(REQ, f"/api/use-cases/{uc}/revisions", {"intake": changed(code_assistant(), purpose="v2")})
    await slack.click("URISK", old_prompt, "aims_approve")
    assert "stale" in slack.fake.called("chat.postEphemeral")[-1]["text"]
    # The revision goes back to assessment (P3), and the old prompt loses its buttons at once.
    superseded = await eventually(
        lambda: [u for u in slack.fake.called("chat.update") if u["ts"] == old_prompt["ts"]]
    )
    assert "Superseded" in json.dumps(superseded[-1]["blocks"])
    await slack.api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    await slack.prompt("URISK", uc, "v2-review-risk")
    state = await slack.state(uc)
    assert state["version"] == 2 and all(g["state"] == "open" for g in state["gates"] if g["kind"] == "review")


@pytest.mark.parametrize(
    "forge",
    [
        {"secret": "the-wrong-secret-0123456789"},
        {"skew": -301},
        {"skew": 301},
    ],
)
async def test_forged_or_stale_requests_get_401_and_change_nothing(slack: Slack, forge: dict[str, Any]):
    uc = await new_case(slack)
    prompt = await slack.prompt("URISK", uc, "v1-review-risk")
    response = await slack.click("URISK", prompt, "aims_approve", **forge)
    assert response.status_code == 401
    assert (await slack.state(uc))["gates"][0]["state"] == "open"


async def test_tampered_or_unsigned_bodies_get_401(slack: Slack):
    timestamp = str(int(time.time()))
    body = b"command=%2Faims&text=help&user_id=URISK"
    tampered = await slack.http.post(
        "/slack/commands",
        content=body + b"x",
        headers={"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(SECRET, timestamp, body)},
    )
    assert tampered.status_code == 401
    assert (await slack.http.post("/slack/interactions", content=body)).status_code == 401


# ---------------------------------------------------------------- Slack's published test vectors


class FixedClock:
    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


SLACK_VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_VECTOR_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


@pytest.mark.parametrize(
    ("clock", "body", "status"),
    [
        (1531420618, SLACK_VECTOR_BODY, 200),
        (1531420618 + 300, SLACK_VECTOR_BODY, 200),
        (1531420618 + 301, SLACK_VECTOR_BODY, 401),
        (1531420618 - 301, SLACK_VECTOR_BODY, 401),
        (1531420618, SLACK_VECTOR_BODY + b"------", 401),
    ],
)
async def test_slacks_published_signature_vector(
    dev_env: WorkflowEnvironment, database_url: str, fake: FakeSlack, clock: int, body: bytes, status: int
):
    settings = slack_settings(fake, database_url, "unused", slack_signing_secrets=("rotated-out-old-secret-0", SLACK_VECTOR_SECRET))
    app = create_app(settings, client=dev_env.client)
    app.state.slack.clock = FixedClock(clock)
    headers = {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": SLACK_VECTOR_SIGNATURE}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
        response = await http.post("/slack/commands", content=body, headers=headers)
    assert response.status_code == status


# ---------------------------------------------------------------- slash command


async def test_slash_commands(slack: Slack):
    uc = await new_case(slack)
    pending = (await slack.command("URISK", "pending")).json()
    assert pending["response_type"] == "ephemeral" and "aims_approve" in json.dumps(pending["blocks"])
    waiting = (await slack.api.get(RISK, "/api/approvals/pending")).json()  # oldest first, as /aims pending
    shown = [gate["use_case_id"] for gate in waiting][:15]
    assert all(use_case in json.dumps(pending["blocks"]) for use_case in shown)
    assert uc in shown or f"and {len(waiting) - 15} more" in json.dumps(pending["blocks"])
    status = (await slack.command("URISK", f"status {uc}")).json()
    assert "in_review" in status["text"] and "open gates: risk, security" in status["text"]
    by_name = (await slack.command("URISK", "status internal code")).json()
    assert "Internal code assistant" in by_name["text"]
    assert "AIMS owner" in (await slack.command("URISK", "stalled")).json()["text"]
    assert (await slack.command("UAIMS", "stalled")).status_code == 200
    assert "/aims pending" in (await slack.command("URISK", "help")).json()["text"]
    assert "not an aims user" in (await slack.command("UNOBODY", "pending")).json()["text"]


async def test_a_corrective_action_reaches_its_owner_in_slack(slack: Slack):
    """Notices about the AIMS as a whole go through the same channel (issue 11): a direct message."""
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    raised = await slack.api.ok(RISK, "/api/nonconformities", {
        "source": "audit_finding", "description": "Logs are kept 3 months, not 6",
        "action": {"description": "Keep logs for 6 months", "owner": OWNER, "due_at": due}})  # fmt: skip

    def told() -> dict[str, Any] | None:
        return next((m for m in slack.fake.messages.get("DUOWNER", [])
                     if f"Nonconformity {raised['number']}: a corrective action for you" in (m.get("text") or "")), None)  # fmt: skip

    message = await eventually(told)
    assert f"https://aims.example/nonconformities/{raised['number']}" in json.dumps(message["blocks"])
    assert "Keep logs for 6 months" in json.dumps(message["blocks"])


# ---------------------------------------------------------------- robustness


async def test_rate_limited_post_is_retried_after_retry_after_and_posted_once(slack: Slack):
    slack.fake.fail("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    uc = await new_case(slack, invoice_ocr())
    prompt = await slack.prompt("UAIMS", uc, "v1-final-aims_owner")
    assert len(slack.prompts_to("UAIMS", uc)) == 1
    assert prompt["ts"]


async def test_slack_being_down_delays_messages_but_never_blocks_the_lifecycle(slack: Slack):
    for _ in range(2):
        slack.fake.fail("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"})
    uc = await new_case(slack, invoice_ocr())
    # The lifecycle moves on while the prompt is still being retried.
    response = await slack.api.decide(AIMS, uc, "v1-final-aims_owner")
    assert response.status_code == 200 and response.json()["status"] == "approved"

    await eventually(lambda: settled(slack_deliveries(slack, uc)))
    # The prompt went out late, with the gate already decided: it asks nothing.
    assert not slack.prompts_to("UAIMS", uc)


def test_slack_errors_are_classified(fake: FakeSlack, database_url: str):
    client = web_client(slack_settings(fake, database_url, "unused"))
    fake.fail("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    with pytest.raises(ApplicationError) as limited:
        call(client.chat_postMessage, channel="C1", text="x")
    assert limited.value.next_retry_delay == dt.timedelta(seconds=7) and not limited.value.non_retryable
    fake.fail("chat.postMessage", 200, {"ok": False, "error": "channel_not_found"})
    with pytest.raises(PermanentDeliveryError) as permanent:
        call(client.chat_postMessage, channel="C1", text="x")
    assert permanent.value.code == "channel_not_found"
    fake.fail("chat.postMessage", 200, {"ok": False, "error": "internal_error"})
    with pytest.raises(ApplicationError) as transient:
        call(client.chat_postMessage, channel="C1", text="x")
    assert transient.value.type == "slack_error"
    fake.fail("chat.postMessage", 200, {"ok": False, "error": "internal_error"})
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x")  # the raw client, for contrast


async def test_a_retried_delivery_reconciles_instead_of_posting_twice(slack: Slack):
    uc = await new_case(slack, invoice_ocr())
    prompt = await slack.prompt("UAIMS", uc, "v1-final-aims_owner")
    with transaction(slack.database_url) as session:
        row = queries.get_use_case(session, uc)
        assert row is not None
        use_case = use_case_summary(row, "https://aims.example")
        gate = gate_summary(queries.gate_with_decision(session, uc, "v1-final-aims_owner") or {}, use_case)
    key = prompt["metadata"]["event_payload"]["key"]
    delivery = Delivery(
        notice_key=key, kind="gate_request", subject="again", use_case=use_case, gate=gate, offers=["decide", "open"],
        recipient=Recipient(email=AIMS, name="Aims", slack_user_id="UAIMS"), topic=uc, title=use_case.name,
        link=gate.link,
    )  # fmt: skip
    channel = SlackChannel(slack_settings(slack.fake, slack.database_url, "unused"))

    def posts_of_the_prompt() -> int:  # other tests' use cases may post meanwhile: count this one's
        return sum(1 for call in slack.fake.called("chat.postMessage")
                   if (call.get("metadata") or {}).get("event_payload") == {"use_case_id": uc, "key": key})  # fmt: skip

    posts_before = posts_of_the_prompt()
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2)  # the attempt that posted died before its commit
    found = env.run(channel.deliver, delivery)
    assert found == f"{prompt['channel_id']}:{prompt['ts']}"
    assert posts_of_the_prompt() == posts_before == 1
    assert slack.fake.called("conversations.history")


# ---------------------------------------------------------------- settings


def test_settings_refuse_placeholders(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "changeme")
    with pytest.raises(SettingsError):
        Settings.from_env()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-real")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    with pytest.raises(SettingsError):
        Settings.from_env()
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "old-secret-0123456789, new-secret-0123456789")
    settings = Settings.from_env()
    assert settings.slack_signing_secrets == ("old-secret-0123456789", "new-secret-0123456789")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    with pytest.raises(SettingsError):
        Settings.from_env()


# ---------------------------------------------------------------- reminders, escalations, digest


def posts(fake: FakeSlack, channel_or_user: str, use_case_id: str) -> list[dict[str, Any]]:
    channel = "D" + channel_or_user if channel_or_user.startswith("U") else channel_or_user
    return [
        m
        for m in fake.messages.get(channel, [])
        if (m.get("metadata") or {}).get("event_payload", {}).get("use_case_id") == use_case_id
    ]


@pytest.fixture
async def skipping_flow(
    time_env: WorkflowEnvironment, database_url: str, fake: FakeSlack, task_queue: str
) -> AsyncIterator[Any]:
    """A use case driven on the time-skipping server by a worker whose channel is Slack."""
    from tests.flow import Flow

    people.seed(database_url)
    settings = slack_settings(fake, database_url, task_queue)
    async with worker_for(time_env.client, task_queue, database_url, [SlackChannel(settings)]):
        yield Flow(time_env, task_queue, database_url)


async def test_reminders_and_escalations_reach_people_without_anyone_looking(
    skipping_flow: Any, fake: FakeSlack, task_queue: str
):
    flow, time_env = skipping_flow, skipping_flow.env
    await flow.start(code_assistant())
    await flow.assess()
    prompt = await eventually(lambda: next(iter(posts(fake, "URISK", flow.id)), None))

    await time_env.sleep(dt.timedelta(days=2, hours=13))
    reminder = await eventually(lambda: [m for m in posts(fake, "URISK", flow.id) if m.get("thread_ts")])
    assert reminder[0]["thread_ts"] == prompt["ts"] and "reminder" in reminder[0]["text"]
    assert not posts(fake, "UAIMS", flow.id)

    await time_env.sleep(dt.timedelta(days=2, hours=12))
    stalled = await eventually(lambda: [m for m in posts(fake, "UAIMS", flow.id) if "stalled" in m["text"]])
    assert len(stalled) == 2  # both review gates
    assert await eventually(lambda: [m for m in posts(fake, "C0GOV", flow.id) if "stalled" in m["text"]])
    assert not posts(fake, "UEXEC", flow.id)

    await time_env.sleep(dt.timedelta(days=5))
    assert await eventually(lambda: [m for m in posts(fake, "UEXEC", flow.id) if "executive" in m["text"]])

    with time_env.auto_time_skipping_disabled():
        listed = await time_env.client.execute_workflow(
            "DailyDigest", id=f"digest-{uuid.uuid4()}", task_queue=task_queue
        )
    assert listed >= 2
    digest = [m for m in fake.messages["C0GOV"] if (m.get("metadata") or {}).get("event_type") == "aims_digest"]
    assert "Internal code assistant" in json.dumps(digest[-1]["blocks"])
    assert re.search(r": \d+ stalled items, (1 of them a gate|\d+ of them gates)$", digest[-1]["text"]), digest[-1]["text"]
    # Triggered again the same day, it does not post twice.
    with time_env.auto_time_skipping_disabled():
        await time_env.client.execute_workflow("DailyDigest", id=f"digest-{uuid.uuid4()}", task_queue=task_queue)
    again = [m for m in fake.messages["C0GOV"] if (m.get("metadata") or {}).get("event_type") == "aims_digest"]
    assert len(again) == len(digest), [m["text"] for m in again]


async def test_the_digest_schedule_is_created_once(dev_env: WorkflowEnvironment, database_url: str, fake: FakeSlack):
    from aims.cli.worker import ensure_schedule

    settings = slack_settings(fake, database_url, f"digest-{uuid.uuid4()}")
    for _ in range(2):  # a restarted worker keeps it
        await ensure_schedule(dev_env.client, "aims-daily-digest", "DailyDigest", settings.digest_cron, settings.task_queue)
    handle = dev_env.client.get_schedule_handle("aims-daily-digest")
    description = await handle.describe()
    spec = description.schedule.spec
    assert spec.cron_expressions == ["0 8 * * *"] or [c.hour[0].start for c in spec.calendars] == [8]
    assert description.schedule.action.workflow == "DailyDigest"
    await handle.delete()


async def test_review_due_and_overdue_reach_the_business_owner_in_slack(skipping_flow: Any, fake: FakeSlack):
    flow, time_env = skipping_flow, skipping_flow.env
    state = await flow.to_production(invoice_ocr())
    due = dt.datetime.fromisoformat(state["next_review_due"])
    await time_env.sleep(due - dt.datetime.fromisoformat(state["updated_at"]) + dt.timedelta(hours=1))
    assert await eventually(lambda: [m for m in posts(fake, "UOWNER", flow.id) if "re-review 1 is due" in m["text"]])
    await time_env.sleep(dt.timedelta(days=15))
    assert await eventually(lambda: [m for m in posts(fake, "UOWNER", flow.id) if "overdue" in m["text"]])
    assert await eventually(lambda: [m for m in posts(fake, "UAIMS", flow.id) if "overdue" in m["text"]])
    assert await eventually(lambda: [m for m in posts(fake, "C0GOV", flow.id) if "overdue" in m["text"]])


def test_the_recording_note_goes_above_the_buttons_of_that_gate_only():
    use_case = UseCaseSummary(
        id="uc", name="OCR", status="in_review", version=1, aims_tier="T1", regulatory_category="minimal",
        requester=REQ, business_owner=OWNER, purpose="p", triggered_rules=[], link="https://aims.example/use-cases/uc",
    )  # fmt: skip
    gate = GateSummary(id="v1-final-aims_owner", role="aims_owner", kind="approval", version=1, state="open",
                       link=use_case.link)  # fmt: skip
    prompt = blocks.as_dicts(blocks.gate_prompt(use_case, gate)[1])
    noted = blocks.with_note(prompt, gate.id, blocks.RECORDING)
    assert noted is not None and len(noted) == len(prompt) + 1
    assert noted[-2]["block_id"] == f"aims_note:{gate.id}" and noted[-1]["block_id"] == f"aims_actions:{gate.id}"
    assert blocks.with_note(noted, gate.id, "again") is not None and len(blocks.with_note(noted, gate.id, "x")) == len(noted)
    assert blocks.with_note(prompt, "v1-review-risk", blocks.RECORDING) is None  # not this gate's prompt

