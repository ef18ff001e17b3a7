"""Intake drafts: answers kept server-side (as form values) while a requester writes, on the web
or in Slack, so they can leave and come back. Only their author reads or changes them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aims.persistence.models import IntakeDraft

# Bounded like everything else: a person keeps at most this many drafts at a time.
MAX_DRAFTS = 20
Answers = dict[str, list[str]]


class TooManyDrafts(Exception):
    pass


def start(session: Session, owner: str, answers: Answers, step: str, now: dt.datetime) -> IntakeDraft:
    count = session.scalar(select(func.count()).select_from(IntakeDraft).where(IntakeDraft.owner == owner)) or 0
    if count >= MAX_DRAFTS:
        raise TooManyDrafts(f"you keep {MAX_DRAFTS} drafts already; submit or delete one first")
    draft = IntakeDraft(id=str(uuid.uuid4()), owner=owner, answers={}, step=step, created_at=now, updated_at=now)
    keep(draft, answers, step, now)
    session.add(draft)
    return draft


def keep(draft: IntakeDraft, answers: Answers, step: str, now: dt.datetime) -> None:
    draft.answers = answers
    draft.name = ((answers.get("name") or [""])[0] or "").strip()[:200]
    draft.step = step
    draft.updated_at = now


def of(session: Session, draft_id: str, owner: str) -> IntakeDraft | None:
    """The draft, if it is this person's."""
    draft = session.get(IntakeDraft, draft_id[:36])
    return draft if draft is not None and draft.owner == owner else None


def of_owner(session: Session, owner: str) -> Sequence[IntakeDraft]:
    return session.scalars(
        select(IntakeDraft).where(IntakeDraft.owner == owner).order_by(IntakeDraft.updated_at.desc(), IntakeDraft.id)
    ).all()


def discard(session: Session, draft: IntakeDraft) -> None:
    session.delete(draft)
