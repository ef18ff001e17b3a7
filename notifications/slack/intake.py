"""Filing a use case from Slack: `/aims new` (or the App Home's button) opens the intake as a
modal in steps: the same steps, questions, words and server-side draft as the web form. Each
step's errors show next to its fields (`response_action: errors`); "Finish on the web" keeps what
was typed and opens the web form where it stands; the last step says what will happen next and
submits. Slack waits 3 s for an answer: the submission itself runs after it, and the modal then
shows the outcome."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.responses import JSONResponse, Response
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from aims.application import intake_form
from aims.application.drafting import REVIEW, Answers, Drafting, Step
from aims.application.errors import ServiceError
from aims.application.intake_form import Field
from aims.domain import permissions, wording
from aims.domain.state import Refused
from aims.persistence import users
from aims.persistence.models import User
from notifications.slack.blocks import SlackAction, escape
from notifications.slack.door import SlackDoor

CALLBACK = "aims_intake"
QUESTION = "q:"  # a question's block id: "q:people.exposure"
ANSWER = "answer"  # the action id of every answer
BACK = "aims_intake_back"
OPTION_TEXT_MAX = 75  # Slack's limit for an option's words


# ------------------------------------------------------------ opening


async def open_new(slack: SlackDoor, trigger_id: str, user: User) -> str | None:
    """Start a draft and open its first step (within the trigger's 3 s); the refusal, if any."""
    try:
        permissions.require_may_act(slack.service(user).actor)
    except Refused as error:
        return error.message
    try:
        step = await asyncio.to_thread(
            lambda: Drafting(slack.service(user)).save(None, "basics", {"business_owner": [user.email]}, "stay")
        )
    except ServiceError as error:
        return error.message
    await slack.call("views_open", trigger_id=trigger_id, view=step_view(step, slack.settings.public_url).to_dict())
    return None


# ------------------------------------------------------------ a step submitted


async def on_submission(slack: SlackDoor, payload: dict[str, Any]) -> Response:
    view = payload.get("view") or {}
    try:
        metadata = json.loads(view["private_metadata"])
        draft, step_name = str(metadata["draft"])[:36], str(metadata["step"])[:32]
    except (KeyError, TypeError, ValueError):
        return _replaced(_message_view("This form is out of date; start again with /aims new."))
    user = await slack.in_session(lambda session: users.user_by_slack_id(session, payload["user"]["id"]))
    if user is None:
        return _replaced(_message_view("You are not an aims user yet; ask your AIMS owner to add you."))
    drafting = Drafting(slack.service(user))
    if step_name == REVIEW:
        if not slack.spawn(_submit(slack, drafting, draft, view.get("id", ""), payload["user"]["id"])):
            return _replaced(_message_view("aims is busy; your draft is kept. Try again in a moment."))
        return _replaced(_message_view("⏳ Submitting your use case…"))
    answers = answers_of((view.get("state") or {}).get("values") or {})
    try:
        step = await asyncio.to_thread(drafting.save, draft, step_name, answers, "next")
    except ServiceError as error:
        return _replaced(_message_view(error.message))
    if step.errors:
        return JSONResponse({"response_action": "errors", "errors": _errors_by_block(step)})
    return _replaced(await _next_view(slack, drafting, step))


async def _submit(slack: SlackDoor, drafting: Drafting, draft: str, view_id: str, slack_user: str) -> None:
    public_url = slack.settings.public_url
    try:
        # What happens next is the classification's (the gates open only after the assessment).
        preview, _ = await asyncio.to_thread(lambda: drafting.preview(drafting.at(draft).answers))
        outcome = await drafting.submit(draft)
    except ServiceError as error:
        outcome = None
        shown = _message_view(f"Not submitted: {error.message} Your draft is kept: {public_url}/use-cases/new?draft={draft}")
    if isinstance(outcome, Step):
        shown = step_view(outcome, public_url, problem="Some answers need your attention before it can be submitted.")
    elif outcome is not None:
        link = f"{public_url}/use-cases/{outcome['id']}"
        classification = outcome["classification"]
        next_steps = (
            wording.next_steps(classification["regulatory_category"], preview.review_roles, preview.final_role)
            if preview is not None else ""
        )  # fmt: skip
        shown = _message_view(
            f"✅ *<{link}|{escape(outcome['name'])}>* is submitted: {classification['aims_tier']}, "
            f"{classification['regulatory_category']}, status *{outcome['status'].replace('_', ' ')}*.\n" + next_steps
        )
    await slack.call("views_update", view_id=view_id, view=shown.to_dict())
    slack.refresh_home(slack_user)


async def _next_view(slack: SlackDoor, drafting: Drafting, step: Step) -> View:
    if step.section is not None:
        return step_view(step, slack.settings.public_url)
    preview, errors = await asyncio.to_thread(drafting.preview, step.answers)
    return review_view(step, preview, errors, slack.settings.public_url)


# ------------------------------------------------------------ buttons inside the modal


async def on_button(slack: SlackDoor, payload: dict[str, Any], action: SlackAction | str) -> Response:
    """"Back" shows the previous step; "Finish on the web" (a URL button: the browser opens the
    web form) keeps what was typed so the web form has it. Both keep the step's answers."""
    view = payload.get("view") or {}
    try:
        metadata = json.loads(view["private_metadata"])
    except (KeyError, TypeError, ValueError):
        return Response(status_code=200)
    user = await slack.in_session(lambda session: users.user_by_slack_id(session, payload["user"]["id"]))
    if user is None or metadata.get("step") == REVIEW and action != BACK:
        return Response(status_code=200)
    drafting = Drafting(slack.service(user))
    answers = answers_of((view.get("state") or {}).get("values") or {})
    move = "back" if action == BACK else "stay"
    try:
        step = await asyncio.to_thread(drafting.save, metadata["draft"], metadata["step"], answers, move)
    except ServiceError:
        return Response(status_code=200)
    if action == BACK:
        shown = await _next_view(slack, drafting, step)
        slack.spawn(slack.call("views_update", view_id=view.get("id", ""), hash=view.get("hash"), view=shown.to_dict()))
    return Response(status_code=200)


# ------------------------------------------------------------ the views


def step_view(step: Step, public_url: str, problem: str | None = None) -> View:
    assert step.section is not None
    steps = intake_form.steps(step.answers)
    position = next(i for i, s in enumerate(steps) if s.step == step.name) + 1
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=f"Step {position} of {len(steps) + 1} · *{step.section.title}*")]),
        SectionBlock(text=MarkdownTextObject(text=escape(step.section.help) or " ")),
    ]
    if problem:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"⚠️ {escape(problem)}")))
    blocks += [_question(field, step.answers.get(field.name, []), step.errors.get(field.name))
               for field in step.section.fields]  # fmt: skip
    blocks.append(_buttons(step, public_url, back=position > 1))
    return _modal(step, blocks, submit="Next")


def review_view(step: Step, preview: Any, errors: dict[str, str], public_url: str) -> View:
    """The last step: what will happen, in words; or which steps still miss answers."""
    if preview is not None:
        classification = preview.classification
        rules = ", ".join(rule.rule for rule in classification.triggered_rules) or "none"
        text = (
            f"*{classification.regulatory_category}* · *{classification.aims_tier}* (rules: {rules})\n"
            + wording.next_steps(classification.regulatory_category, preview.review_roles, preview.final_role)
        )
    else:
        missing = [s.title for s in intake_form.steps(step.answers) if intake_form.errors_in(s, errors)]
        text = "⚠️ Some answers are still missing: " + ", ".join(missing) + ". Submit takes you to the first of them."
    steps = intake_form.steps(step.answers)
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=f"Step {len(steps) + 1} of {len(steps) + 1} · *Review and submit*")]),
        SectionBlock(text=MarkdownTextObject(text=text)),
        _buttons(step, public_url, back=True),
    ]
    return _modal(step, blocks, submit="Submit")


def _modal(step: Step, blocks: list[Block], submit: str) -> View:
    return View(
        type="modal", callback_id=CALLBACK, title="New AI use case", submit=submit, close="Cancel",
        private_metadata=json.dumps({"draft": step.draft_id, "step": step.name}), blocks=blocks[:100],
    )  # fmt: skip


def _message_view(text: str) -> View:
    return View(type="modal", title="New AI use case", close="Done",
                blocks=[SectionBlock(text=MarkdownTextObject(text=text))])  # fmt: skip


def _buttons(step: Step, public_url: str, *, back: bool) -> ActionsBlock:
    web = f"{public_url}/use-cases/new?draft={step.draft_id}&step={step.name}"
    elements = [ButtonElement(action_id=SlackAction.INTAKE_ON_THE_WEB, text="Finish on the web", url=web,
                              value=step.draft_id)]  # fmt: skip
    if back:
        elements.insert(0, ButtonElement(action_id=BACK, text="Back", value=step.draft_id))
    return ActionsBlock(block_id="aims_intake_buttons", elements=elements)


def _question(field: Field, value: list[str], error: str | None) -> InputBlock:
    options = [Option(value=key, text=_fit(words)) for key, words in field.options]
    chosen = [option for option in options if option.value in value]
    element: Any
    if field.kind == "select" and len(options) <= 4:
        element = RadioButtonsElement(action_id=ANSWER, options=options, initial_option=chosen[0] if chosen else None)
    elif field.kind == "select":
        element = StaticSelectElement(action_id=ANSWER, options=options, placeholder="Choose…",
                                      initial_option=chosen[0] if chosen else None)  # fmt: skip
    elif field.kind == "multi" and len(options) <= 10:
        element = CheckboxesElement(action_id=ANSWER, options=options, initial_options=chosen or None)
    elif field.kind == "multi":
        element = StaticMultiSelectElement(action_id=ANSWER, options=options, placeholder="Choose all that apply…",
                                           initial_options=chosen or None)  # fmt: skip
    elif field.kind == "date":
        element = DatePickerElement(action_id=ANSWER, initial_date=value[0] if value else None)
    else:
        element = PlainTextInputElement(action_id=ANSWER, multiline=field.kind == "textarea", max_length=4000,
                                        initial_value=value[0] if value else None)  # fmt: skip
    hint = " ".join(part for part in (field.help, "Comma-separated." if field.kind == "list" else "") if part)
    return InputBlock(block_id=QUESTION + field.name, label=field.label[:2000], element=element,
                      hint=hint or None, optional=not field.required)  # fmt: skip


def _fit(text: str) -> str:
    return text if len(text) <= OPTION_TEXT_MAX else text[: OPTION_TEXT_MAX - 1] + "…"


# ------------------------------------------------------------ reading what was typed


def answers_of(values: dict[str, Any]) -> Answers:
    """A view's `state.values` as form values (dotted names → list of strings)."""
    answers: Answers = {}
    for block_id, actions in values.items():
        if not block_id.startswith(QUESTION) or not isinstance(actions, dict):
            continue
        element = actions.get(ANSWER) or {}
        kind = element.get("type")
        if kind in ("static_select", "radio_buttons"):
            chosen = element.get("selected_option")
            given = [chosen["value"]] if chosen else []
        elif kind in ("multi_static_select", "checkboxes"):
            given = [option["value"] for option in element.get("selected_options") or []]
        elif kind == "datepicker":
            given = [element["selected_date"]] if element.get("selected_date") else []
        else:
            given = [element["value"]] if element.get("value") else []
        answers[block_id[len(QUESTION):]] = [str(value)[:4000] for value in given]
    return answers


def _errors_by_block(step: Step) -> dict[str, str]:
    """Slack shows errors under the block they name: a field's own, or the section's first."""
    assert step.section is not None
    fields = [field.name for field in step.section.fields]
    errors: dict[str, str] = {}
    for location, message in step.errors.items():
        owner = next((name for name in fields if location == name or location.startswith(f"{name}.")), fields[0])
        errors.setdefault(QUESTION + owner, message[:150])
    return errors


def _replaced(view: View) -> JSONResponse:
    return JSONResponse({"response_action": "update", "view": view.to_dict()})
