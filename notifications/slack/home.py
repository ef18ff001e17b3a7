"""The App Home tab: what waits for the person (gates with buttons, then what else their use
cases wait for from them), their use cases and what each waits for, the re-reviews they owe and their drafts, with a
button to start a new use case. Published when they open it, after each change they make here,
and by the worker after their notices."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from activities.channels import Home
from notifications.slack.blocks import SlackAction, decision_buttons, escape


def home_view(home: Home, public_url: str) -> View:
    blocks: list[Block] = [
        HeaderBlock(text="aims: your AI use cases"),
        ActionsBlock(block_id="aims_home_actions", elements=[
            ButtonElement(action_id=SlackAction.NEW_INTAKE, text="New use case", value="new", style="primary"),
            ButtonElement(action_id=SlackAction.OPEN, text="Open aims", url=f"{public_url}/"),
        ]),  # fmt: skip
        HeaderBlock(text=f"Waiting for you ({home.waiting_total})"),
    ]
    for gate in home.waiting:
        due = f"due {gate.due_at[:16].replace('T', ' ')} UTC" + (" · *stalled*" if gate.stalled else "")
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f"*{escape(gate.name)}* · {gate.aims_tier} · {escape(gate.label)} · {due}")))  # fmt: skip
        blocks.append(decision_buttons(gate.use_case_id, gate.gate_id, gate.version, f"{public_url}/use-cases/{gate.use_case_id}"))
    if not home.waiting:
        blocks.append(_line("Nothing is waiting for you. 🎉"))
    elif home.waiting_total > len(home.waiting):
        blocks.append(_context(f"…and {home.waiting_total - len(home.waiting)} more, newer ones: "
                               f"<{public_url}/approvals|your approvals page>"))  # fmt: skip
    if home.stages:
        blocks += [DividerBlock(), HeaderBlock(text=f"Use cases waiting for you ({home.stages_total})")]
        blocks += [_line(f"<{public_url}/use-cases/{s.use_case_id}#actions|{escape(s.name)}> · waiting for "
                         f"{escape(s.label)} · due {s.due_at[:10]}") for s in home.stages]  # fmt: skip
        blocks += _more(home.stages_total - len(home.stages), public_url)
    blocks += [DividerBlock(), HeaderBlock(text=f"Re-reviews you owe ({home.reviews_total})")]
    blocks += [
        _line(f"<{public_url}/use-cases/{r.use_case_id}|{escape(r.name)}> · {escape(r.label)} · answer due {r.due_at[:10]}")
        for r in home.reviews
    ] or [_line("None.")]
    blocks += _more(home.reviews_total - len(home.reviews), public_url)
    blocks += [DividerBlock(), HeaderBlock(text=f"Your use cases ({home.use_cases_total})")]
    blocks += [
        _line(f"<{public_url}/use-cases/{c.id}|{escape(c.name)}> · {c.status.replace('_', ' ')} · {c.aims_tier}"
              + "".join(f"\n    waiting for {escape(waiting)}" for waiting in c.waiting_for))
        for c in home.use_cases
    ] or [_line("You have not submitted or own any use case yet.")]
    blocks += _more(home.use_cases_total - len(home.use_cases), public_url)
    if home.drafts:
        blocks += [DividerBlock(), HeaderBlock(text=f"Your drafts ({home.drafts_total})")]
        blocks += [_line(f"<{public_url}/use-cases/new?draft={d.id}|{escape(d.name)}> · finish it on the web")
                   for d in home.drafts]  # fmt: skip
        blocks += _more(home.drafts_total - len(home.drafts), public_url)
    return View(type="home", blocks=blocks)


def _line(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _more(hidden: int, public_url: str) -> list[Block]:
    """Under a list that shows only its first items: how many more the web shows."""
    return [_context(f"…and {hidden} more on <{public_url}/|your dashboard>")] if hidden > 0 else []
