"""The /aims slash command: pending, status, stalled, help (answers from the register)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from aims.application.errors import ServiceError
from aims.application.service import UseCaseService
from aims.domain.wording import counted
from aims.persistence import queries, users
from aims.persistence.models import UseCase, User
from aims.persistence.queries import RegisterFilter
from notifications.slack import blocks, intake
from notifications.slack.clicks import refusal_text
from notifications.slack.door import NOT_A_USER, SlackDoor

HELP = (
    "*/aims new* — file a new AI use case (a form in a few steps; finish it on the web if you like)\n"
    "*/aims pending* — gates waiting for you, with buttons\n"
    "*/aims status <id or name>* — where a use case stands\n"
    "*/aims stalled* — everything past its deadline (AIMS owner)\n"
    "*/aims help* — this help"
)


async def answer(slack: SlackDoor, form: dict[str, str]) -> Response:
    words = form.get("text", "").strip().split(maxsplit=1)
    subcommand, argument = (words[0].lower() if words else "help"), (words[1] if len(words) > 1 else "")
    slack_user = form.get("user_id", "")
    if subcommand == "new":
        return await _new(slack, slack_user, form.get("trigger_id", ""))

    def run(session: Session) -> JSONResponse | None:
        user = users.user_by_slack_id(session, slack_user)
        if user is None:
            return None
        service = slack.service(user)
        public_url = slack.settings.public_url
        if subcommand == "pending":
            return _pending(service, public_url)
        if subcommand == "status" and argument:
            return _status(service, argument, public_url)
        if subcommand == "stalled":
            return _stalled(service, public_url)
        return reply(HELP)

    answered = await slack.in_session(run)
    if answered is None and await slack.bind(slack_user):
        answered = await slack.in_session(run)
    return answered or reply(NOT_A_USER)


async def _new(slack: SlackDoor, slack_user: str, trigger_id: str) -> Response:
    def find(session: Session) -> User | None:
        return users.user_by_slack_id(session, slack_user)

    user = await slack.in_session(find)
    if user is None and await slack.bind(slack_user):
        user = await slack.in_session(find)
    if user is None:
        return reply(NOT_A_USER)
    refusal = await intake.open_new(slack, trigger_id, user)
    return reply(refusal) if refusal else Response(status_code=200)


def reply(text: str, message_blocks: list[Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if message_blocks:
        body["blocks"] = blocks.as_dicts(message_blocks)[:50]
    return JSONResponse(body)


_SHOWN = 15  # oldest first: a message with buttons stays readable (and under Slack's 50 blocks)


def _pending(service: UseCaseService, public_url: str) -> JSONResponse:
    gates = service.pending_approvals()
    if not gates:
        return reply("Nothing is waiting for you. 🎉")
    message: list[Any] = []
    for gate in gates[:_SHOWN]:
        summary = (
            f"*{blocks.escape(gate['name'])}* · {gate['aims_tier']} · {gate['label']}"
            f" · due {gate['due_at'][:16].replace('T', ' ')} UTC" + (" · *stalled*" if gate["stalled"] else "")
        )
        message.append(blocks.SectionBlock(text=blocks.MarkdownTextObject(text=summary)))
        link = f"{public_url}/use-cases/{gate['use_case_id']}"
        message.append(blocks.decision_buttons(gate["use_case_id"], gate["gate_id"], gate["version"], link))
    if len(gates) > _SHOWN:
        more = f"…and {len(gates) - _SHOWN} more, newer ones: <{public_url}/approvals|your approvals page>"
        message.append(blocks.SectionBlock(text=blocks.MarkdownTextObject(text=more)))
    return reply(f"{counted(len(gates), 'gate')} waiting for you", message)


def _status(service: UseCaseService, argument: str, public_url: str) -> JSONResponse:
    with service.read() as session:
        row = session.get(UseCase, argument[:36])
    rows = [row] if row is not None else service.register(RegisterFilter(q=argument[:200]), limit=5, with_state=True)[1]
    if not rows:
        return reply(f"No use case matches {argument!r}.")
    lines = []
    for row in rows:
        state = queries.state_of(row)
        open_gates = ", ".join(g.role for g in state.open_gates()) or "none"
        due = state.next_review_due.strftime("%Y-%m-%d") if state.next_review_due else "—"
        lines.append(
            f"*{blocks.escape(state.name)}* — {state.status} (v{state.version}, {state.classification.aims_tier}); "
            f"open gates: {open_gates}; next review: {due} · <{public_url}/use-cases/{state.id}|open>"
        )
    return reply("\n".join(lines))


def _stalled(service: UseCaseService, public_url: str) -> JSONResponse:
    try:
        stalled = service.stalled()
    except ServiceError as error:
        return reply(refusal_text(error))
    lines = [
        f"• *{blocks.escape(item['name'])}*: {item['label']} waiting since {item['since'][:10]}"
        f" (level {item['escalation_level']}) <{public_url}/use-cases/{item['use_case_id']}|open>"
        for item in stalled
    ]
    return reply("\n".join(lines) or "Nothing is stalled or overdue.")
