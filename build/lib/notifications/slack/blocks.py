"""Block Kit messages, built with slack_sdk.models so Slack's limits are checked here."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from activities.channels import GateSummary, UseCaseSummary


class SlackAction(enum.StrEnum):
    APPROVE = "aims_approve"
    REJECT = "aims_reject"
    REQUEST_CHANGES = "aims_request_changes"
    OPEN = "aims_open"
    NEW_INTAKE = "aims_new_intake"  # opens the intake modal (App Home)
    INTAKE_ON_THE_WEB = "aims_intake_web"  # a URL button: the draft is kept, the web form opens


DECISION_OF_ACTION = {
    SlackAction.APPROVE: "approve",
    SlackAction.REJECT: "reject",
    SlackAction.REQUEST_CHANGES: "request_changes",
}
REASON_CALLBACK = "aims_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"


def escape(text: str) -> str:
    """User-supplied text in mrkdwn: no links, mentions or formatting injection."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button_value(use_case_id: str, gate_id: str, version: int) -> str:
    """Opaque pointer to the gate; authorisation is always checked server-side."""
    return json.dumps({"u": use_case_id, "g": gate_id, "v": version}, separators=(",", ":"))


def parse_button_value(value: str) -> tuple[str, str, int]:
    data = json.loads(value)
    return str(data["u"]), str(data["g"]), int(data["v"])


def _date(instant: str | None) -> str:
    if not instant:
        return "—"
    moment = dt.datetime.fromisoformat(instant)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def decision_buttons(use_case_id: str, gate_id: str, version: int, link: str) -> ActionsBlock:
    value = button_value(use_case_id, gate_id, version)
    return ActionsBlock(
        block_id=f"aims_actions:{gate_id}",
        elements=[
            ButtonElement(
                action_id=SlackAction.APPROVE,
                text="Approve",
                value=value,
                style="primary",
                confirm=ConfirmObject(
                    title="Approve this use case?",
                    text="Your approval is recorded in the audit trail.",
                    confirm="Approve",
                    deny="Cancel",
                ),
            ),
            ButtonElement(action_id=SlackAction.REJECT, text="Reject", value=value, style="danger"),
            ButtonElement(action_id=SlackAction.REQUEST_CHANGES, text="Request changes", value=value),
            ButtonElement(action_id=SlackAction.OPEN, text="Open in aims", url=link),
        ],
    )


RECORDING = "⏳ Recording your decision…"


def gate_prompt(use_case: UseCaseSummary, gate: GateSummary, note: str | None = None) -> tuple[str, list[Block]]:
    """The prompt to decide a gate; `note` (e.g. RECORDING) shows above the buttons."""
    rules = ", ".join(use_case.triggered_rules) or "none"
    text = f"Decision needed: {use_case.name} ({gate.role} {gate.kind.replace('_', ' ')} gate)"
    blocks: list[Block] = [
        HeaderBlock(text=f"AI use case: {use_case.name}"[:150]),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Tier:*\n{use_case.aims_tier}"),
                MarkdownTextObject(text=f"*Category:*\n{use_case.regulatory_category}"),
                MarkdownTextObject(text=f"*Requester:*\n{escape(use_case.requester)}"),
                MarkdownTextObject(text=f"*Business owner:*\n{escape(use_case.business_owner)}"),
                MarkdownTextObject(text=f"*Triggered rules:*\n{rules}"),
                MarkdownTextObject(text=f"*Due:*\n{_date(gate.due_at)}"),
            ]
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*Purpose:* {escape(use_case.purpose)[:2500]}\n<{use_case.link}|Open {escape(use_case.name)} in aims>"
            )
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"You are asked as *{gate.role}* · {gate.kind.replace('_', ' ')} gate `{gate.id}` · version {gate.version}"
                )
            ]
        ),
        *([ContextBlock(block_id=f"aims_note:{gate.id}", elements=[MarkdownTextObject(text=note)])] if note else []),
        decision_buttons(use_case.id, gate.id, gate.version, use_case.link),
    ]
    return text, blocks


def gate_outcome(use_case: UseCaseSummary, gate: GateSummary) -> tuple[str, list[Block]]:
    """The prompt after the gate closed: buttons replaced by what happened, who and when."""
    icon = {"approved": "✅", "rejected": "❌", "changes_requested": "✏️", "superseded": "⏭️"}.get(gate.state, "•")
    who = f" by {escape(gate.decided_by)}" if gate.decided_by else ""
    when = f" · {_date(gate.decided_at)}" if gate.decided_at else ""
    outcome = f"{icon} {gate.state.replace('_', ' ').capitalize()}{who}{when}"
    if gate.comment:
        outcome += f"\n> {escape(gate.comment)}"
    text = f"{use_case.name}: {gate.role} gate {gate.state.replace('_', ' ')}"
    blocks: list[Block] = [
        HeaderBlock(text=f"AI use case: {use_case.name}"[:150]),
        SectionBlock(
            block_id=f"aims_outcome:{gate.id}",
            text=MarkdownTextObject(text=f"{outcome}\n<{use_case.link}|Open in aims>"),
        ),
    ]
    return text, blocks


def notice_message(subject: str, link: str, detail: str = "") -> tuple[str, list[Block]]:
    body = escape(subject) + (f"\n{escape(detail)[:2500]}" if detail else "")
    return subject, [SectionBlock(text=MarkdownTextObject(text=f"{body}\n<{link}|Open in aims>"))]


def reason_modal(decision: str, value: str, gate_id: str, prompt: tuple[str, str] | None = None) -> View:
    """Asks why; remembers the prompt it came from, to show the outcome there."""
    title = "Reject" if decision == "reject" else "Request changes"
    return View(
        type="modal",
        callback_id=REASON_CALLBACK,
        private_metadata=json.dumps({"value": value, "decision": decision, "prompt": list(prompt) if prompt else None}),
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text=title),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            InputBlock(
                block_id=REASON_BLOCK,
                label=f"Why? ({gate_id})",
                element=PlainTextInputElement(action_id=REASON_INPUT, multiline=True, max_length=2000),
            )
        ],
    )


def with_note(message_blocks: list[dict[str, Any]], gate_id: str, note: str) -> list[dict[str, Any]] | None:
    """The prompt as Slack sent it back with the click, with `note` above its buttons (None: not
    our prompt for this gate). Built from the click itself: no database read while Slack waits."""
    actions = f"aims_actions:{gate_id}"
    if not any(block.get("block_id") == actions for block in message_blocks):
        return None
    note_block = ContextBlock(block_id=f"aims_note:{gate_id}", elements=[MarkdownTextObject(text=note)]).to_dict()
    kept = [block for block in message_blocks if block.get("block_id") != note_block["block_id"]]
    at = next(index for index, block in enumerate(kept) if block.get("block_id") == actions)
    return [*kept[:at], note_block, *kept[at:]]


def as_dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]
