"""The intake in a few steps, with progress shown: a new use case, or a revision of one. Every
step is kept in a server-side draft (leave and come back from the dashboard), checked on its
own with the errors next to the fields, and the last step shows every answer and what will
happen next, in words. Plain forms: it works without JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aims.application import intake_form
from aims.application.drafting import REVISES, Drafting, Step
from api.web import flash
from api.web.auth import PageService, ViewerDep, check_csrf
from api.web.render import render

router = APIRouter()
DraftId = Annotated[str, Query(max_length=36, pattern=r"^[A-Za-z0-9-]{0,36}$")]
StepName = Annotated[str, Query(max_length=32, pattern=r"^[a-z_]{0,32}$")]
ACTIONS = ("next", "back", "save", "submit", "discard")


def _show(request: Request, viewer: ViewerDep, drafting: Drafting, step: Step, status_code: int = 200) -> HTMLResponse:
    steps = intake_form.steps(step.answers)
    context = {
        "step": step, "steps": steps, "revises": (step.answers.get(REVISES) or [None])[0],
        "position": next((i for i, s in enumerate(steps) if s.step == step.name), len(steps)) + 1,
    }  # fmt: skip
    if step.section is None:
        preview, problems = drafting.preview(step.answers)
        missing = [(s, n) for s in steps if (n := len(intake_form.errors_in(s, problems)))]
        return render(request, "intake_review.html", viewer, status_code=status_code, preview=preview,
                      missing=missing, sections=steps, shown=intake_form.shown, **context)  # fmt: skip
    return render(request, "intake_step.html", viewer, status_code=status_code, **context)


@router.get("/use-cases/new", response_model=None)
def intake_step(
    request: Request, viewer: ViewerDep, service: PageService, draft: DraftId = "", step: StepName = "",
    revise: Annotated[str, Query(max_length=36)] = "",
) -> Response:  # fmt: skip
    """A step of the intake; `?revise=<id>` drafts a revision pre-filled with that use case's intake."""
    drafting = Drafting(service)
    if revise:
        return RedirectResponse(f"/use-cases/new?draft={drafting.for_revision(revise)}", status_code=303)
    return _show(request, viewer, drafting, drafting.at(draft or None, step or None))


@router.post("/use-cases/new", response_model=None)
async def save_step(request: Request, viewer: ViewerDep, service: PageService) -> Response:
    form = await request.form()
    values = {key: [str(value) for value in form.getlist(key)] for key in form.keys()}
    check_csrf(viewer, _one(values, "csrf"))
    drafting = Drafting(service)
    draft, action = _one(values, "draft")[:36] or None, _one(values, "action")
    if action not in ACTIONS:
        action = "next"
    if action == "discard" and draft:
        drafting.discard(draft)
        return flash.redirect(request, "/", "Draft deleted")
    if action == "submit" and draft:
        outcome = await drafting.submit(draft, _one(values, "reason"))
        if isinstance(outcome, Step):
            return _show(request, viewer, drafting, outcome, 422)
        done = "Revision submitted" if outcome["version"] > 1 else "Submitted"
        return flash.redirect(request, f"/use-cases/{outcome['id']}", done)
    move = {"save": "stay", "back": "back"}.get(action, "next")
    step = drafting.save(draft, _one(values, "step"), values, move)  # type: ignore[arg-type]
    if step.errors:
        return _show(request, viewer, drafting, step, 422)
    if action == "save":
        return flash.redirect(request, "/", "Draft saved: continue it from your dashboard")
    return RedirectResponse(f"/use-cases/new?draft={step.draft_id}&step={step.name}", status_code=303)


def _one(values: dict[str, list[str]], key: str) -> str:
    return (values.get(key) or [""])[0]
