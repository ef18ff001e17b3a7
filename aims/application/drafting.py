"""Writing an intake in steps, on the web or in Slack: every step is kept in a server-side draft
(nothing is lost when the requester leaves, or when a step has errors), checked on its own,
and the whole intake is checked again when it is submitted. A revision is drafted the same way,
pre-filled with the current intake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aims.application import intake_form
from aims.application.errors import ServiceError
from aims.application.intake_form import Section
from aims.application.service import ClassificationPreview, UseCaseService
from aims.domain.commands import ReviseIntake
from aims.persistence import drafts
from aims.persistence.db import transaction
from aims.persistence.models import IntakeDraft

Answers = dict[str, list[str]]
REVIEW = "review"  # the last step: every answer, the classification in words, submit
REVISES = "revise"  # the answers' key naming the use case a draft revises


@dataclass(frozen=True)
class Step:
    """Where a draft stands: the step to show (None: the review), its errors, the answers."""

    draft_id: str
    section: Section | None
    answers: Answers
    errors: dict[str, str]

    @property
    def name(self) -> str:
        return self.section.step if self.section else REVIEW


@dataclass(frozen=True)
class Summary:
    id: str
    name: str
    step: str
    revises: str | None
    updated_at: dt.datetime


class Drafting:
    """One person's intake drafts."""

    def __init__(self, service: UseCaseService):
        self.service = service
        self.owner = service.user.email

    # ------------------------------------------------------------ reading

    def drafts(self) -> list[Summary]:
        with self.service.read() as session:
            return [_summary(draft) for draft in drafts.of_owner(session, self.owner)]

    def at(self, draft_id: str | None, step: str | None = None) -> Step:
        """A draft at a step (its own by default); no draft: a new intake's first step."""
        if not draft_id:
            answers, stored = {"business_owner": [self.owner]}, "basics"
        else:
            with self.service.read() as session:
                draft = self._owned(session, draft_id)
                answers, stored = dict(draft.answers), draft.step
        return Step(draft_id or "", self._section(answers, step or stored), answers, {})

    def preview(self, answers: Answers) -> tuple[ClassificationPreview | None, dict[str, str]]:
        intake, errors = intake_form.validate(intake_form.parse(answers))
        return (self.service.preview(intake) if intake else None), errors

    # ------------------------------------------------------------ writing

    def save(
        self, draft_id: str | None, step: str, submitted: Answers, move: Literal["next", "back", "stay"]
    ) -> Step:
        """Keep this step's answers; move on only when the step has no errors (back always)."""
        answers = self._answers(draft_id) if draft_id else {}
        section = intake_form.step_named(answers | submitted, step)
        if section is not None:
            answers = intake_form.merge(answers, section, submitted)
        errors = intake_form.errors_in(section, self.preview(answers)[1]) if section and move == "next" else {}
        target = section if errors or move == "stay" else self._neighbour(answers, section, move)
        draft_id = self._keep(draft_id, answers, target.step if target else REVIEW)
        return Step(draft_id, target, answers, errors)

    def for_revision(self, use_case_id: str) -> str:
        """A draft pre-filled with the use case's current intake (read access checked)."""
        intake = self.service.detail(use_case_id)["intake"] or {}
        return self._keep(None, intake_form.values_of(intake) | {REVISES: [use_case_id]}, "basics")

    async def submit(self, draft_id: str, reason: str = "") -> dict[str, Any] | Step:
        """Create the use case (or send the revision) and drop the draft; or the first step that
        still has errors."""
        answers = self._answers(draft_id)
        intake, errors = intake_form.validate(intake_form.parse(answers))
        if intake is None:
            return self._first_with_errors(draft_id, answers, errors)
        revises = (answers.get(REVISES) or [None])[0]
        try:
            if revises:
                command = ReviseIntake(actor=self.service.actor, intake=intake, reason=reason[:4000])
                result = await self.service.act(revises, command, f"draft:{draft_id}")
            else:
                result = await self.service.create(intake, f"draft:{draft_id}")
        except ServiceError as error:
            if error.field is None:
                raise
            return self._first_with_errors(draft_id, answers, {error.field: error.message})
        self.discard(draft_id)
        return result

    def discard(self, draft_id: str) -> None:
        with transaction(self.service.database_url) as session:
            draft = self._owned(session, draft_id)
            drafts.discard(session, draft)

    # ------------------------------------------------------------ internals

    def _first_with_errors(self, draft_id: str, answers: Answers, errors: dict[str, str]) -> Step:
        for section in intake_form.steps(answers):
            mine = intake_form.errors_in(section, errors)
            if mine:
                return Step(draft_id, section, answers, mine)
        return Step(draft_id, None, answers, errors)

    def _section(self, answers: Answers, step: str) -> Section | None:
        if step == REVIEW:
            return None
        return intake_form.step_named(answers, step) or intake_form.steps(answers)[0]

    @staticmethod
    def _neighbour(answers: Answers, section: Section | None, move: str) -> Section | None:
        steps: Sequence[Section] = intake_form.steps(answers)
        names = [s.step for s in steps]
        at = names.index(section.step) if section is not None and section.step in names else len(steps)
        at = at + 1 if move == "next" else max(at - 1, 0)
        return steps[at] if at < len(steps) else None

    def _answers(self, draft_id: str) -> Answers:
        with self.service.read() as session:
            return dict(self._owned(session, draft_id).answers)

    def _keep(self, draft_id: str | None, answers: Answers, step: str) -> str:
        now = dt.datetime.now(dt.UTC)
        with transaction(self.service.database_url) as session:
            if draft_id:
                draft = self._owned(session, draft_id)
                drafts.keep(draft, answers, step, now)
                return draft.id
            try:
                return drafts.start(session, self.owner, answers, step, now).id
            except drafts.TooManyDrafts as error:
                raise ServiceError("conflict", str(error)) from None

    def _owned(self, session: Any, draft_id: str) -> IntakeDraft:
        draft = drafts.of(session, draft_id, self.owner)
        if draft is None:
            raise ServiceError("not_found", "no such draft of yours (submitted or deleted already?)")
        return draft


def _summary(draft: IntakeDraft) -> Summary:
    revises = (draft.answers.get(REVISES) or [None])[0]
    return Summary(draft.id, draft.name or "(no name yet)", draft.step, revises, draft.updated_at)
