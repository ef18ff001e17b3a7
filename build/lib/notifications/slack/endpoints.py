"""Slack's requests to aims, mounted by the app: button clicks, modals (a reason, the intake),
/aims, and the Events API (the App Home).

Each is verified on its raw body first (401 otherwise), checked to come from our workspace and
app (403), parsed, and answered within Slack's 3 seconds."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from aims.persistence import users
from notifications.slack import clicks, commands, intake, verify
from notifications.slack.blocks import REASON_CALLBACK, SlackAction
from notifications.slack.door import NOT_A_USER, SlackDoor

router = APIRouter(prefix="/slack", tags=["slack"], include_in_schema=False)


def _door(request: Request) -> SlackDoor:
    return request.app.state.slack


def _unauthorised() -> JSONResponse:
    return JSONResponse({"error": "invalid request"}, status_code=401)


def _foreign() -> JSONResponse:
    return JSONResponse({"error": "this aims serves another Slack workspace or app"}, status_code=403)


async def _signed_body(request: Request, slack: SlackDoor) -> bytes | None:
    raw = await request.body()  # the exact bytes Slack signed, before any parsing
    return raw if verify.signed(slack.settings.slack_signing_secrets, slack.clock, raw, request.headers) else None


@router.post("/interactions")
async def interactions(request: Request) -> Response:
    slack = _door(request)
    async with slack.answering():
        return await _interaction(request, slack)


async def _interaction(request: Request, slack: SlackDoor) -> Response:
    raw = await _signed_body(request, slack)
    if raw is None:
        return _unauthorised()
    try:
        payload = json.loads(parse_qs(raw.decode())["payload"][0])
        assert isinstance(payload, dict)
    except (KeyError, IndexError, ValueError, AssertionError):
        return JSONResponse({"error": "payload: expected a Slack interaction payload"}, status_code=400)
    if not verify.ours(slack.settings.slack_team_id, slack.settings.slack_app_id, payload):
        return _foreign()
    kind, callback = payload.get("type"), (payload.get("view") or {}).get("callback_id")
    if kind == "block_actions":
        action = str(((payload.get("actions") or [{}])[0] or {}).get("action_id", ""))
        if action == SlackAction.NEW_INTAKE:
            return await _new_intake(slack, payload)
        if action in (SlackAction.INTAKE_ON_THE_WEB, intake.BACK):
            return await intake.on_button(slack, payload, action)
        return await clicks.on_click(slack, payload)
    if kind == "view_submission" and callback == REASON_CALLBACK:
        return await clicks.on_reason(slack, payload)
    if kind == "view_submission" and callback == intake.CALLBACK:
        return await intake.on_submission(slack, payload)
    return Response(status_code=200)


async def _new_intake(slack: SlackDoor, payload: dict[str, Any]) -> Response:
    """The App Home's "New use case" button: the intake modal, as /aims new opens it."""
    user = await slack.in_session(lambda session: users.user_by_slack_id(session, payload["user"]["id"]))
    refusal = NOT_A_USER if user is None else await intake.open_new(slack, payload.get("trigger_id", ""), user)
    if refusal:
        slack.spawn(slack.say_privately(None, payload["user"]["id"], refusal))
    return Response(status_code=200)


@router.post("/events")
async def events(request: Request) -> Response:
    """The Events API: the URL check, and `app_home_opened` (the Home tab shows what waits)."""
    slack = _door(request)
    raw = await _signed_body(request, slack)
    if raw is None:
        return _unauthorised()
    try:
        payload = json.loads(raw)
        assert isinstance(payload, dict)
    except (ValueError, AssertionError):
        return JSONResponse({"error": "expected a Slack event (JSON)"}, status_code=400)
    if payload.get("type") == "url_verification":
        return JSONResponse({"challenge": str(payload.get("challenge", ""))[:200]})
    if not verify.ours(slack.settings.slack_team_id, slack.settings.slack_app_id, payload):
        return _foreign()
    event = payload.get("event") or {}
    if event.get("type") == "app_home_opened" and event.get("tab", "home") == "home" and event.get("user"):
        slack.spawn(slack.publish_home(str(event["user"])))  # published again on a retry: the same Home
    return Response(status_code=200)


@router.post("/commands")
async def slash_command(request: Request) -> Response:
    slack = _door(request)
    async with slack.answering():
        return await _command(request, slack)


async def _command(request: Request, slack: SlackDoor) -> Response:
    raw = await _signed_body(request, slack)
    if raw is None:
        return _unauthorised()
    form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
    if not verify.ours(slack.settings.slack_team_id, slack.settings.slack_app_id, form):
        return _foreign()
    return await commands.answer(slack, form)
