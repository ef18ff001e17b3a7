"""Slack's requests to aims, mounted by the app: button clicks, reason modals, /aims.

Each is verified on its raw body first (401 otherwise), checked to come from our workspace and
app (403), parsed, and answered within Slack's 3 seconds."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from notifications.slack import clicks, commands, verify
from notifications.slack.blocks import REASON_CALLBACK
from notifications.slack.door import SlackDoor

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
    if payload.get("type") == "block_actions":
        return await clicks.on_click(slack, payload)
    if payload.get("type") == "view_submission" and (payload.get("view") or {}).get("callback_id") == REASON_CALLBACK:
        return await clicks.on_reason(slack, payload)
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
