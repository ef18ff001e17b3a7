"""Slack where people are: a requester files a use case from a modal in steps (`/aims new`),
an approver decides from the App Home, and the worker keeps each Home current. The real
slack-sdk against the fake Slack Web API, signed requests, a real worker on the dev server."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from activities.channels import Home, HomeCase, HomeDraft, HomeGate, HomeItem
from activities.home import SHOWN
from aims.application import intake_form
from aims.persistence import drafts, users
from aims.persistence.db import transaction
from tests.intakes import changed, code_assistant
from tests.test_api import OWNER, REQ, RISK
from tests.test_slack import Slack, eventually, fake, new_case, slack  # noqa: F401 - the fixtures
from tests.test_web import csrf_of, sign_in
from notifications.slack.home import home_view


async def command(slack: Slack, slack_user: str, text: str) -> httpx.Response:
    body = urlencode({"command": "/aims", "text": text, "user_id": slack_user, "channel_id": "C1",
                      "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}"}).encode()  # fmt: skip
    return await slack.signed("/slack/commands", body)


def submission(slack_user: str, view: dict[str, Any], answers: dict[str, list[str]]) -> dict[str, Any]:
    """A modal submitted as Slack sends it: every input block's answer in `state.values`."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        given, kind = answers.get(block["block_id"][2:], []), block["element"]["type"]
        if kind in ("static_select", "radio_buttons"):
            state = {"selected_option": {"value": given[0]} if given else None}
        elif kind in ("multi_static_select", "checkboxes"):
            state = {"selected_options": [{"value": value} for value in given]}
        elif kind == "datepicker":
            state = {"selected_date": given[0] if given else None}
        else:
            state = {"value": ", ".join(given) if given else None}
        values[block["block_id"]] = {"answer": {"type": kind, **state}}
    return {"type": "view_submission", "user": {"id": slack_user},
            "view": {"id": view["id"], "hash": view.get("hash"), "callback_id": view["callback_id"],
                     "private_metadata": view["private_metadata"], "state": {"values": values}}}  # fmt: skip


def button(slack_user: str, view: dict[str, Any], action_id: str, answers: dict[str, list[str]]) -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": slack_user}, "trigger_id": "t", "container": {"type": "view"},
            "view": submission(slack_user, view, answers)["view"],
            "actions": [{"action_id": action_id, "value": "x"}]}  # fmt: skip


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


async def test_a_requester_files_a_use_case_from_slack_in_steps(slack: Slack):
    opened = await command(slack, "UREQ", "new")
    assert opened.status_code == 200 and not opened.content  # the modal is open: nothing to say
    view = slack.fake.views[next(reversed(slack.fake.views))]
    assert view["callback_id"] == "aims_intake" and "Step 1 of 11" in text_of(view) and '"q:name"' in text_of(view)
    draft = json.loads(view["private_metadata"])["draft"]
    with transaction(slack.database_url) as session:
        assert drafts.of(session, draft, REQ) is not None  # kept server-side from the first step

    name = f"From Slack {uuid.uuid4().hex[:6]}"
    answers = intake_form.values_of(changed(code_assistant(), name=name))
    missing = await slack.interact(submission("UREQ", view, {k: v for k, v in answers.items() if k != "name"}))
    assert missing.json()["response_action"] == "errors" and "q:name" in missing.json()["errors"]

    web = await slack.interact(button("UREQ", view, "aims_intake_web", {"name": [name], "purpose": ["Typed in Slack"]}))
    assert web.status_code == 200
    with transaction(slack.database_url) as session:
        kept = drafts.of(session, draft, REQ)
        assert kept is not None and kept.answers["purpose"] == ["Typed in Slack"]  # the web form will show it

    steps_seen = []
    while True:
        answer = await slack.interact(submission("UREQ", view, answers))
        body = answer.json()
        assert body["response_action"] == "update", body
        view = body["view"] | {"id": view["id"]}
        if json.loads(view["private_metadata"])["step"] == "review":
            break
        steps_seen.append(json.loads(view["private_metadata"])["step"])
    assert "suppliers" in steps_seen and len(steps_seen) == 10
    review = text_of(view)
    assert "T2_MEDIUM" in review and "the risk officer and security review it" in review
    assert (await slack.interact(submission("UREQ", view, {}))).json()["view"]["blocks"][0]["text"]["text"].startswith("⏳")
    outcome = slack.fake.views[view["id"]]
    assert "is submitted" in text_of(outcome) and "status *assessment*" in text_of(outcome)
    # What happens next comes from the classification: no gate exists yet at `assessment`.
    assert "the risk officer and security review it" in text_of(outcome)
    found = (await slack.api.get(REQ, "/api/use-cases", q=name)).json()
    assert found["total"] == 1 and found["items"][0]["requester"] == REQ
    with transaction(slack.database_url) as session:
        assert drafts.of(session, draft, REQ) is None  # submitted: the draft is gone
    assert name in json.dumps(slack.fake.homes["UREQ"])  # the Home lists it


async def test_back_keeps_the_answers_and_auditors_and_strangers_cannot_file(slack: Slack):
    await command(slack, "UREQ", "new")
    first = slack.fake.views[next(reversed(slack.fake.views))]
    answers = intake_form.values_of(code_assistant())
    second = (await slack.interact(submission("UREQ", first, answers))).json()["view"] | {"id": first["id"]}
    assert "Step 2 of" in text_of(second)
    await slack.interact(button("UREQ", second, "aims_intake_back", answers))
    await slack.door.settle()
    back = slack.fake.views[first["id"]]
    assert "Step 1 of" in text_of(back) and "Reads supplier invoices into the ledger" in text_of(back)
    stranger = await command(slack, "UNOBODY", "new")
    assert "not an aims user" in stranger.json()["text"]


async def test_an_approver_decides_from_the_app_home_and_the_worker_keeps_it_current(slack: Slack):
    challenge = await slack.signed("/slack/events", json.dumps({"type": "url_verification", "challenge": "c-1"}).encode())
    assert challenge.json() == {"challenge": "c-1"}
    forged = await slack.signed("/slack/events", b'{"type":"event_callback"}', secret="wrong-secret-0123456789")
    assert forged.status_code == 401

    slack.fake.homes.pop("URISK", None)
    uc = await new_case(slack)  # its assessment opens the risk gate: the worker refreshes the risk officer's Home
    await eventually(lambda: "URISK" in slack.fake.homes)
    waiting = (await slack.api.get(RISK, "/api/approvals/pending")).json()  # oldest first, as the Home shows them
    assert uc in [gate["use_case_id"] for gate in waiting]
    slack.fake.homes.pop("URISK")
    opened = {"type": "event_callback", "team_id": "T0FAKE", "event_id": "Ev1",
              "event": {"type": "app_home_opened", "user": "URISK", "tab": "home"}}  # fmt: skip
    assert (await slack.signed("/slack/events", json.dumps(opened).encode())).status_code == 200
    await slack.door.settle()
    home = slack.fake.homes["URISK"]
    assert home["type"] == "home" and f"Waiting for you ({len(waiting)})" in text_of(home)
    assert waiting[0]["use_case_id"] in text_of(home)  # the oldest first
    ours = next(gate for gate in waiting if gate["use_case_id"] == uc)
    value = json.dumps({"u": uc, "g": ours["gate_id"], "v": ours["version"]}, separators=(",", ":"))
    if uc in text_of(home):  # its button, as the Home shows it (other modules' gates may come first)
        assert value in text_of(home).replace("\\", "")
    slack.fake.homes.pop("URISK")
    click = {"type": "block_actions", "user": {"id": "URISK"}, "trigger_id": "t", "container": {"type": "view"},
             "actions": [{"action_id": "aims_approve", "value": value, "action_ts": "1"}]}  # fmt: skip
    assert (await slack.interact(click)).status_code == 200
    state = await slack.state(uc)
    assert next(g for g in state["gates"] if g["id"] == ours["gate_id"])["decided_by"] == RISK
    assert uc not in text_of(slack.fake.homes["URISK"])  # republished after the click: it waits no more

    stranger = {"type": "event_callback", "team_id": "T0FAKE",
                "event": {"type": "app_home_opened", "user": "UNOBODY", "tab": "home"}}  # fmt: skip
    await slack.signed("/slack/events", json.dumps(stranger).encode())
    await slack.door.settle()
    assert "not an aims user" in text_of(slack.fake.homes["UNOBODY"])


def test_a_home_with_every_list_full_fits_slack_and_counts_what_it_does_not_show():
    due = "2027-01-04T09:00:00+00:00"
    item = HomeItem(use_case_id="u", name="Case", label="the sign-off", due_at=due)
    home = Home(
        waiting=[HomeGate(use_case_id="u", gate_id="v1-review-risk", version=1, name="Case", aims_tier="T2_MEDIUM",
                          label="risk review", due_at=due, stalled=False)] * SHOWN,  # fmt: skip
        waiting_total=40,
        use_cases=[HomeCase(id="u", name="Case", status="in_review", aims_tier="T2_MEDIUM", waiting_for=[])] * SHOWN,
        use_cases_total=41, stages=[item] * SHOWN, stages_total=42, reviews=[item] * SHOWN, reviews_total=43,
        drafts=[HomeDraft(id="d", name="Draft")] * SHOWN, drafts_total=44,
    )  # fmt: skip
    view = home_view(home, "https://aims.example").to_dict()
    assert len(view["blocks"]) <= 100  # Slack refuses a bigger Home
    text = json.dumps(view["blocks"], ensure_ascii=False)
    for header, total in (("Waiting for you", 40), ("Use cases waiting for you", 42), ("Re-reviews you owe", 43),
                          ("Your use cases", 41), ("Your drafts", 44)):  # fmt: skip
        assert f"{header} ({total})" in text
        assert f"…and {total - SHOWN} more" in text


async def test_the_owner_s_app_home_lists_what_their_use_cases_wait_for_from_them(slack: Slack):
    # An owner of this use case alone: the cast's owner has every other test's waiting too.
    tag = uuid.uuid4().hex[:6]
    email, slack_id = f"owner-{tag}@example.com", f"UOWN{tag.upper()}"
    with transaction(slack.database_url) as session:
        users.add_user(session, email=email, name="Owner", roles=[], slack_user_id=slack_id,
                       now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
    name = f"Owed {tag}"
    uc = (await slack.api.ok(REQ, "/api/use-cases", changed(code_assistant(), name=name, business_owner=email)))["id"]
    opened = {"type": "event_callback", "team_id": "T0FAKE",
              "event": {"type": "app_home_opened", "user": slack_id, "tab": "home"}}  # fmt: skip
    await slack.signed("/slack/events", json.dumps(opened).encode())
    await slack.door.settle()
    home = text_of(slack.fake.homes[slack_id])
    assert "Use cases waiting for you (1)" in home and f"{uc}#actions|{name}>" in home
    assert "waiting for the risk and impact assessment" in home
    mine = home.split("Your use cases", 1)[1]  # where each stands, newest first
    line = f"{uc}|{name}> · assessment · T2_MEDIUM\n    waiting for the risk and impact assessment ({email}, due "
    assert json.dumps(line)[1:-1] in mine


async def test_the_draft_started_in_slack_is_finished_on_the_web(slack: Slack):
    await command(slack, "UOWNER", "new")
    view = slack.fake.views[next(reversed(slack.fake.views))]
    draft = json.loads(view["private_metadata"])["draft"]
    link = next(element["url"] for block in view["blocks"] if block["type"] == "actions"
                for element in block["elements"] if element["action_id"] == "aims_intake_web")  # fmt: skip
    assert link == f"https://aims.example/use-cases/new?draft={draft}&step=basics"
    await slack.interact(button("UOWNER", view, "aims_intake_web", {"name": ["Half done in Slack"]}))
    transport = httpx.ASGITransport(app=slack.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://aims.test") as browser:
        await sign_in(browser, slack.api.tokens[OWNER])
        page = await browser.get(f"/use-cases/new?draft={draft}&step=basics")
        assert 'value="Half done in Slack"' in page.text and csrf_of(page.text)
        other = await browser.get("/")
        assert "Half done in Slack" in other.text  # on the dashboard's drafts too
