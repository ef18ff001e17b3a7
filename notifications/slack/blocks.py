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


class SlackAction(enum.StrEnum):
    APPROVE = "aims_approve"
    REJECT = "aims_reject"
    REQUEST_CHANGES = "aims_request_changes"
    OPEN = "aims_open"


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


def _link(public_url: str, use_case_id: str) -> str:
    return f"{public_url}/use-cases/{use_case_id}"


def decision_buttons(use_case_id: str, gate_id: str, version: int, public_url: str) -> ActionsBlock:
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
            ButtonElement(action_id=SlackAction.OPEN, text="Open in aims", url=_link(public_url, use_case_id)),
        ],
    )


def gate_prompt(state: dict[str, Any], gate: dict[str, Any], public_url: str) -> tuple[str, list[Block]]:
    classification = state["classification"]
    rules = ", ".join(rule["rule"] for rule in classification["triggered_rules"]) or "none"
    name = escape(state["name"])
    text = f"Decision needed: {state['name']} ({gate['role']} {gate['kind']} gate)"
    blocks: list[Block] = [
        HeaderBlock(text=f"AI use case: {state['name']}"[:150]),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Tier:*\n{classification['aims_tier']}"),
                MarkdownTextObject(text=f"*Category:*\n{classification['regulatory_category']}"),
                MarkdownTextObject(text=f"*Requester:*\n{escape(state['requester'])}"),
                MarkdownTextObject(text=f"*Business owner:*\n{escape(state['business_owner'])}"),
                MarkdownTextObject(text=f"*Triggered rules:*\n{rules}"),
                MarkdownTextObject(text=f"*Due:*\n{_date(gate.get('due_at'))}"),
            ]
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*Purpose:* {escape(state['intake']['purpose'])[:2500]}\n"
                f"<{_link(public_url, state['id'])}|Open {name} in aims>"
            )
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"You are asked as *{gate['role']}* · {gate['kind']} gate `{gate['id']}` · version {gate['version']}"
                )
            ]
        ),
        decision_buttons(state["id"], gate["id"], gate["version"], public_url),
    ]
    return text, blocks


def gate_outcome(state: dict[str, Any], gate: dict[str, Any], public_url: str) -> tuple[str, list[Block]]:
    """The prompt after the gate closed: buttons replaced by what happened, who and when."""
    icon = {"approved": "✅", "rejected": "❌", "changes_requested": "✏️", "superseded": "⏭️"}.get(gate["state"], "•")
    who = f" by {escape(gate['decided_by'])}" if gate.get("decided_by") else ""
    when = f" · {_date(gate.get('decided_at'))}" if gate.get("decided_at") else ""
    outcome = f"{icon} {gate['state'].replace('_', ' ').capitalize()}{who}{when}"
    if gate.get("comment"):
        outcome += f"\n> {escape(gate['comment'])}"
    text = f"{state['name']}: {gate['role']} gate {gate['state'].replace('_', ' ')}"
    blocks: list[Block] = [
        HeaderBlock(text=f"AI use case: {state['name']}"[:150]),
        SectionBlock(
            block_id=f"aims_outcome:{gate['id']}",
            text=MarkdownTextObject(text=f"{outcome}\n<{_link(public_url, state['id'])}|Open in aims>"),
        ),
    ]
    return text, blocks


def notice_message(subject: str, use_case_id: str, public_url: str, detail: str = "") -> tuple[str, list[Block]]:
    body = escape(subject) + (f"\n{escape(detail)}" if detail else "")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"{body}\n<{_link(public_url, use_case_id)}|Open in aims>"))
    ]
    return subject, blocks


def reason_modal(decision: str, value: str, gate_id: str) -> View:
    title = "Reject" if decision == "reject" else "Request changes"
    return View(
        type="modal",
        callback_id=REASON_CALLBACK,
        private_metadata=json.dumps({"value": value, "decision": decision}),
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


def as_dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]
