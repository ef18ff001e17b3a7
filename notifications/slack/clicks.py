"""A decision from Slack: verified and checked against the register, answered at once, then
recorded in the background, with the clicked message showing what happened.

verify (endpoints) → parse → resolve the Slack user → check with the domain's rules → answer
Slack → "recording your decision…" → the Update → the outcome in place, or the refusal to the
clicker. The Update's id comes from (person, use case, gate, decision): a double click, or a
retry after Slack gave up waiting, decides once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from activities.channels import GateSummary, UseCaseSummary, gate_summary, use_case_summary
from aims.application.errors import ServiceError
from aims.application.service import Prepared
from aims.domain import actions
from aims.domain.commands import DecideGate
from aims.persistence import outbox, queries, users
from notifications.slack import blocks
from notifications.slack.channel import CHANNEL_NAME, reference
from notifications.slack.blocks import DECISION_OF_ACTION, REASON_BLOCK, REASON_INPUT, SlackAction
from notifications.slack.door import NOT_A_USER, SlackDoor

BUSY = "aims is busy; click again in a moment."


@dataclass(frozen=True)
class Click:
    slack_user: str
    use_case_id: str
    gate_id: str
    version: int
    decision: str
    comment: str = ""
    # Where the clicked prompt is (channel, ts); None from places that are not messages.
    prompt: tuple[str, str] | None = None
    # The prompt's text and blocks as Slack sent them with the click (empty from a modal).
    message: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> str | None:
        return self.prompt[0] if self.prompt else None

    @property
    def key(self) -> str:
        """The same person clicking the same decision twice (or Slack re-sending it) decides once."""
        return f"slack:{self.gate_id}:{self.decision}"


@dataclass(frozen=True)
class Checked:
    email: str
    prepared: Prepared | None
    refusal: str | None


def refusal_text(error: ServiceError) -> str:
    prefix = {
        "forbidden": "You can't decide this",
        "conflict": "Nothing changed",
        "not_found": "Not found",
        "invalid": "Not accepted",
    }.get(error.code, "Not recorded")
    return f"{prefix}: {error.message}"


# ------------------------------------------------------------ a button


async def on_click(slack: SlackDoor, payload: dict[str, Any]) -> Response:
    action = (payload.get("actions") or [{}])[0]
    try:
        slack_action = SlackAction(action.get("action_id"))
        use_case_id, gate_id, version = blocks.parse_button_value(action["value"])
    except (ValueError, KeyError, TypeError):
        return Response(status_code=200)  # URL buttons and anything not ours: just acknowledge
    decision = DECISION_OF_ACTION.get(slack_action)
    if decision is None:
        return Response(status_code=200)
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    prompt = (channel, container["message_ts"]) if channel and container.get("message_ts") else None
    if decision != "approve":
        # A reason is needed: open the modal now, while the trigger is valid (3 s).
        modal = blocks.reason_modal(decision, action["value"], gate_id, prompt)
        await slack.call("views_open", trigger_id=payload.get("trigger_id", ""), view=modal.to_dict())
        return Response(status_code=200)
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    click = Click(payload["user"]["id"], use_case_id, gate_id, version, decision, prompt=prompt, message=message)
    checked = await check(slack, click)
    if checked is None:
        accepted = slack.spawn(_after_binding(slack, click))
    elif checked.refusal or checked.prepared is None:
        accepted = slack.spawn(slack.say_privately(click.channel, click.slack_user, checked.refusal or NOT_A_USER))
    else:
        accepted = slack.spawn(record(slack, click, checked.prepared))
    return Response(status_code=200) if accepted else _busy()


# ------------------------------------------------------------ a reason, from the modal


async def on_reason(slack: SlackDoor, payload: dict[str, Any]) -> Response:
    view = payload.get("view") or {}
    try:
        metadata = json.loads(view["private_metadata"])
        use_case_id, gate_id, version = blocks.parse_button_value(metadata["value"])
        decision = metadata["decision"]
        prompt = tuple(metadata["prompt"]) if metadata.get("prompt") else None
    except (ValueError, KeyError, TypeError):
        return _modal_error("This form is out of date.")
    value = (view.get("state", {}).get("values", {}).get(REASON_BLOCK, {}).get(REASON_INPUT) or {}).get("value")
    reason = (value or "").strip()
    if not reason:
        return _modal_error("Please say why.")
    click = Click(payload["user"]["id"], use_case_id, gate_id, version, decision, reason[:4000], prompt)  # type: ignore[arg-type]
    checked = await check(slack, click)
    if checked is None or checked.prepared is None:
        return _modal_error((checked.refusal if checked else None) or NOT_A_USER)
    if not slack.spawn(record(slack, click, checked.prepared)):
        return _modal_error(BUSY)
    return Response(status_code=200)  # closes the modal; the outcome shows on the prompt


def _modal_error(text: str) -> JSONResponse:
    return JSONResponse({"response_action": "errors", "errors": {REASON_BLOCK: text[:150]}})


def _busy() -> JSONResponse:
    return JSONResponse({"error": "busy"}, status_code=503, headers={"Retry-After": "1"})


# ------------------------------------------------------------ checking and recording


async def check(slack: SlackDoor, click: Click) -> Checked | None:
    """The domain's checks against the register, in a worker thread; None for an unknown person."""

    def run() -> Checked | None:
        with slack.service_db() as session:
            user = users.user_by_slack_id(session, click.slack_user)
        if user is None:
            return None
        service = slack.service(user)
        body = actions.GateDecision(decision=click.decision, comment=click.comment)  # type: ignore[arg-type]
        command = DecideGate(actor=service.actor, gate_id=click.gate_id, body=body, version=click.version)
        try:
            return Checked(user.email, service.prepare(click.use_case_id, command, click.key), None)
        except ServiceError as error:
            return Checked(user.email, None, refusal_text(error))

    return await asyncio.to_thread(run)


async def record(slack: SlackDoor, click: Click, prepared: Prepared) -> None:
    """After the answer to Slack: show that it is being recorded, record it, show the outcome."""
    recording = asyncio.create_task(show_recording(slack, click))
    refusal = None
    try:
        gateway = await slack.gateway()
        await gateway.send(prepared.use_case_id, prepared.command, prepared.update_id)
    except ServiceError as error:
        refusal = refusal_text(error)
    await recording  # the outcome must not be overwritten by the "recording" message
    if refusal:
        await slack.say_privately(click.channel, click.slack_user, refusal)
    await rewrite(slack, click)
    slack.refresh_home(click.slack_user)  # what waits for the clicker changed


async def show_recording(slack: SlackDoor, click: Click) -> None:
    """The clicked prompt, buttons kept, says the decision is being recorded."""
    noted = blocks.with_note(click.message.get("blocks") or [], click.gate_id, blocks.RECORDING)
    if click.prompt is None or noted is None:
        return
    channel, ts = click.prompt
    await slack.call("chat_update", channel=channel, ts=ts, text=click.message.get("text") or "", blocks=noted)


async def rewrite(slack: SlackDoor, click: Click) -> None:
    """The clicked prompt as the register has it now: buttons while the gate is open, else the
    outcome. Always rewritten (it replaces the "recording" note); marked finalised after, so a
    delivery activity that comes later leaves it alone."""
    if click.prompt is None:
        return
    channel, ts = click.prompt
    where = (click.use_case_id, click.gate_id, CHANNEL_NAME, reference(channel, ts))

    def load(session: Session) -> tuple[UseCaseSummary, GateSummary] | None:
        row = queries.use_case_row(session, click.use_case_id)
        gate = queries.gate_with_decision(session, click.use_case_id, click.gate_id) if row is not None else None
        if row is None or gate is None:
            return None
        use_case = use_case_summary(row, slack.settings.public_url)
        return use_case, gate_summary(gate, use_case)

    loaded = await slack.in_session(load)
    if loaded is None:
        return
    use_case, summary = loaded
    if summary.state == "open":
        text, message = blocks.gate_prompt(use_case, summary)
    else:
        text, message = blocks.gate_outcome(use_case, summary)
    if await slack.call("chat_update", channel=channel, ts=ts, text=text, blocks=blocks.as_dicts(message)) is None:
        return
    if summary.state != "open":
        now = dt.datetime.now(dt.UTC)
        await slack.in_session(lambda session: outbox.mark_finalized(session, *where, now))


async def _after_binding(slack: SlackDoor, click: Click) -> None:
    """A Slack id aims does not know yet: bind it by the Slack profile's e-mail, then carry on."""
    if not await slack.bind(click.slack_user):
        await slack.say_privately(click.channel, click.slack_user, NOT_A_USER)
        return
    checked = await check(slack, click)
    if checked is None or checked.prepared is None:
        await slack.say_privately(click.channel, click.slack_user, (checked.refusal if checked else None) or NOT_A_USER)
        return
    await record(slack, click, checked.prepared)
