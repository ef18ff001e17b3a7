"""Slack's requests: button clicks, reason modals and the /aims command.

Each request is verified on its raw body before anything else (401 otherwise), parsed,
resolved to an aims user, and then acted on through the same service as the REST API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from aims.domain import actions
from aims.persistence import models, repository
from aims.persistence.db import request_session
from api.errors import ServiceError
from api.services import UseCaseService
from notifications.slack import blocks
from notifications.slack.blocks import DECISION_OF_ACTION, REASON_BLOCK, REASON_CALLBACK, REASON_INPUT, SlackAction
from notifications.slack.client import web_client

log = logging.getLogger(__name__)
router = APIRouter(prefix="/slack", tags=["slack"], include_in_schema=False)

# Slack shows an error unless it hears back within 3 s; leave room for the network.
ACK_BUDGET_SECONDS = 2.5


class SystemClock:
    def now(self) -> float:
        return time.time()


def verify(request: Request, raw: bytes) -> bool:
    """True when one of the configured signing secrets signed this exact body recently."""
    settings = request.app.state.settings
    clock = getattr(request.app.state, "slack_clock", None) or SystemClock()
    headers = dict(request.headers)
    return any(
        SignatureVerifier(secret, clock=clock).is_valid_request(raw, headers)
        for secret in settings.slack_signing_secrets
    )


def _unauthorised() -> JSONResponse:
    return JSONResponse({"error": "invalid request"}, status_code=401)


def _slack(request: Request) -> WebClient:
    if getattr(request.app.state, "slack_client", None) is None:
        request.app.state.slack_client = web_client(request.app.state.settings)
    return request.app.state.slack_client


async def _call(request: Request, method: str, **arguments: Any) -> Any:
    """A Web API call off the event loop (slack_sdk's client is synchronous)."""
    return await asyncio.to_thread(getattr(_slack(request), method), **arguments)


async def _service(request: Request, session: Session, user: models.User) -> UseCaseService:
    return UseCaseService(
        session=session, lifecycle=await request.app.state.lifecycle(), user=user, policy=request.app.state.policy
    )


async def _resolve_user(request: Request, session: Session, slack_user_id: str) -> models.User | None:
    """The aims user behind a Slack id: stored id first, else Slack's profile e-mail (remembered)."""
    user = repository.user_by_slack_id(session, slack_user_id)
    if user is not None:
        return user
    try:
        info = await _call(request, "users_info", user=slack_user_id)
    except SlackApiError as error:
        log.warning("slack users.info %s failed: %s", slack_user_id, error.response.get("error"))
        return None
    email = ((info.get("user") or {}).get("profile") or {}).get("email")
    user = repository.user_by_email(session, email) if email else None
    if user is not None and user.slack_user_id is None:
        user.slack_user_id = slack_user_id
    return user


async def _say_privately(request: Request, channel: str | None, slack_user_id: str, text: str) -> None:
    try:
        if channel:
            await _call(request, "chat_postEphemeral", channel=channel, user=slack_user_id, text=text)
        else:
            await _call(request, "chat_postMessage", channel=slack_user_id, text=text)
    except SlackApiError as error:
        log.warning("could not tell %s privately: %s", slack_user_id, error.response.get("error"))


async def _bounded(request: Request, work: Callable[[], Awaitable[None]]) -> bool:
    """Run `work`; True if it finished within the ack budget, else it carries on in the background."""
    task = asyncio.create_task(work())
    request.app.state.slack_tasks.add(task)
    task.add_done_callback(request.app.state.slack_tasks.discard)
    try:
        await asyncio.wait_for(asyncio.shield(task), ACK_BUDGET_SECONDS)
        return True
    except TimeoutError:
        return False


def _refusal_text(error: ServiceError) -> str:
    prefix = {
        "forbidden": "You can't decide this",
        "conflict": "Nothing changed",
        "not_found": "Not found",
        "invalid": "Not accepted",
    }.get(error.code, "Not recorded")
    return f"{prefix}: {error.message}"


# ---------------------------------------------------------------- interactions


@router.post("/interactions")
async def interactions(request: Request) -> Response:
    raw = await request.body()  # the exact bytes Slack signed, before any parsing
    if not verify(request, raw):
        return _unauthorised()
    try:
        payload = json.loads(parse_qs(raw.decode())["payload"][0])
    except (KeyError, IndexError, ValueError):
        return JSONResponse({"error": "payload: expected a Slack interaction payload"}, status_code=400)
    if payload.get("type") == "block_actions":
        return await _block_action(request, payload)
    if payload.get("type") == "view_submission" and payload.get("view", {}).get("callback_id") == REASON_CALLBACK:
        return await _reason_submitted(request, payload)
    return Response(status_code=200)


async def _block_action(request: Request, payload: dict[str, Any]) -> Response:
    action = (payload.get("actions") or [{}])[0]
    try:
        slack_action = SlackAction(action.get("action_id"))
        use_case_id, gate_id, version = blocks.parse_button_value(action["value"])
    except (ValueError, KeyError, TypeError):
        return Response(status_code=200)  # URL buttons and anything not ours: just acknowledge
    slack_user_id = payload["user"]["id"]
    channel = (payload.get("container") or {}).get("channel_id") or (payload.get("channel") or {}).get("id")
    decision = DECISION_OF_ACTION[slack_action]

    if decision != "approve":
        # A reason is required: open the modal now, while the trigger_id is valid (3 s).
        modal = blocks.reason_modal(decision, action["value"], gate_id)
        try:
            await _call(request, "views_open", trigger_id=payload["trigger_id"], view=modal.to_dict())
        except SlackApiError as error:
            log.warning("views.open failed: %s", error.response.get("error"))
        return Response(status_code=200)

    async def decide() -> None:
        with request_session(request.app.state.settings.database_url) as session:
            user = await _resolve_user(request, session, slack_user_id)
            if user is None:
                await _say_privately(request, channel, slack_user_id, "You are not an aims user yet; ask your AIMS owner.")
                return
            service = await _service(request, session, user)
            try:
                await service.decide(
                    use_case_id, gate_id, actions.GateDecision(decision="approve"), version, _click_key(gate_id, "approve")
                )
            except ServiceError as error:
                await _say_privately(request, channel, slack_user_id, _refusal_text(error))

    await _bounded(request, decide)
    return Response(status_code=200)


async def _reason_submitted(request: Request, payload: dict[str, Any]) -> Response:
    view = payload["view"]
    slack_user_id = payload["user"]["id"]
    try:
        metadata = json.loads(view["private_metadata"])
        use_case_id, gate_id, version = blocks.parse_button_value(metadata["value"])
        decision = metadata["decision"]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"response_action": "errors", "errors": {REASON_BLOCK: "This form is out of date."}})
    reason = ((view.get("state", {}).get("values", {}).get(REASON_BLOCK, {}).get(REASON_INPUT) or {}).get("value") or "").strip()
    if not reason:
        return JSONResponse({"response_action": "errors", "errors": {REASON_BLOCK: "Please say why."}})
    refusal: list[str] = []

    async def decide() -> None:
        with request_session(request.app.state.settings.database_url) as session:
            user = await _resolve_user(request, session, slack_user_id)
            if user is None:
                refusal.append("You are not an aims user yet; ask your AIMS owner.")
                return
            service = await _service(request, session, user)
            try:
                body = actions.GateDecision(decision=decision, comment=reason)
                await service.decide(use_case_id, gate_id, body, version, _click_key(gate_id, decision))
            except ServiceError as error:
                refusal.append(_refusal_text(error))
        if refusal and finished_late:
            await _say_privately(request, None, slack_user_id, refusal[0])

    finished_late = False
    if not await _bounded(request, decide):
        finished_late = True  # the modal closes; a refusal arrives as a direct message
        return Response(status_code=200)
    if refusal:
        return JSONResponse({"response_action": "errors", "errors": {REASON_BLOCK: refusal[0][:150]}})
    return Response(status_code=200)


def _click_key(gate_id: str, decision: str) -> str:
    """The same person clicking the same decision twice (or Slack re-sending it) decides once."""
    return f"slack:{gate_id}:{decision}"


# ---------------------------------------------------------------- slash command


HELP = (
    "*/aims pending* — gates waiting for you, with buttons\n"
    "*/aims status <id or name>* — where a use case stands\n"
    "*/aims stalled* — stalled gates and overdue reviews (AIMS owner)\n"
    "*/aims help* — this help"
)


@router.post("/commands")
async def commands(request: Request) -> Response:
    raw = await request.body()
    if not verify(request, raw):
        return _unauthorised()
    form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
    words = form.get("text", "").strip().split(maxsplit=1)
    subcommand, argument = (words[0].lower() if words else "help"), (words[1] if len(words) > 1 else "")
    with request_session(request.app.state.settings.database_url) as session:
        user = await _resolve_user(request, session, form.get("user_id", ""))
        if user is None:
            return _reply("You are not an aims user yet; ask your AIMS owner to run `aims users add --slack-id`.")
        service = await _service(request, session, user)
        public_url = request.app.state.settings.public_url
        if subcommand == "pending":
            return _pending(service, public_url)
        if subcommand == "status" and argument:
            return _status(service, argument, public_url)
        if subcommand == "stalled":
            return _stalled(service, public_url)
    return _reply(HELP)


def _reply(text: str, message_blocks: list[Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if message_blocks:
        body["blocks"] = blocks.as_dicts(message_blocks)[:50]
    return JSONResponse(body)


def _pending(service: UseCaseService, public_url: str) -> JSONResponse:
    gates = service.pending_approvals()
    if not gates:
        return _reply("Nothing is waiting for you. 🎉")
    message: list[Any] = []
    for gate in gates[:15]:
        summary = (
            f"*{blocks.escape(gate['name'])}* · {gate['aims_tier']} · {gate['role']} {gate['kind']} gate"
            f" · due {gate['due_at'][:16].replace('T', ' ')} UTC" + (" · *stalled*" if gate["stalled"] else "")
        )
        message.append(blocks.SectionBlock(text=blocks.MarkdownTextObject(text=summary)))
        message.append(blocks.decision_buttons(gate["use_case_id"], gate["gate_id"], gate["version"], public_url))
    return _reply(f"{len(gates)} gate(s) waiting for you", message)


def _status(service: UseCaseService, argument: str, public_url: str) -> JSONResponse:
    try:
        states = [service.get(argument)]
    except ServiceError:
        _, rows = service.register(q=argument, limit=5)
        states = [row.state for row in rows]
    if not states:
        return _reply(f"No use case matches {argument!r}.")
    lines = []
    for state in states:
        open_gates = ", ".join(g["role"] for g in state["gates"] if g["state"] == "open") or "none"
        lines.append(
            f"*{blocks.escape(state['name'])}* — {state['status']} (v{state['version']}, "
            f"{state['classification']['aims_tier']}); open gates: {open_gates}; "
            f"next review: {(state['next_review_due'] or '—')[:10]} · <{public_url}/use-cases/{state['id']}|open>"
        )
    return _reply("\n".join(lines))


def _stalled(service: UseCaseService, public_url: str) -> JSONResponse:
    try:
        stalled = service.stalled()
    except ServiceError as error:
        return _reply(_refusal_text(error))
    lines = [
        f"• *{blocks.escape(g['name'])}*: {g['role']} gate open since {g['opened_at'][:10]}"
        f" (level {g['escalation_level']}) <{public_url}/use-cases/{g['use_case_id']}|open>"
        for g in stalled["gates"]
    ] + [
        f"• *{blocks.escape(r['name'])}*: re-review due {r['review']['due_at'][:10]} (owner {r['business_owner']})"
        for r in stalled["reviews"]
    ]
    return _reply("\n".join(lines) or "Nothing is stalled or overdue.")
