"""What waits for one person, read from the register: the plain data a channel shows in a place
of its own for each person (Slack's App Home). Used by the worker after deliveries and by the
Slack door when the Home tab is opened."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from activities.channels import Home, HomeCase, HomeDraft, HomeGate, HomeItem
from aims.domain.wording import who
from aims.persistence import drafts, queries
from aims.persistence.models import User

# Per list: with their headers and "…and N more" lines, the five lists fit the 100 blocks of a Home view.
SHOWN = 12


def home_of(session: Session, user: User) -> Home:
    gates = queries.gates_waiting_for(session, user.email, user.roles)
    total, cases = queries.list_use_cases(session, queries.RegisterFilter(), involving=user.email, limit=SHOWN)
    waiting_on = queries.waiting_on(session, [c.id for c in cases])
    stages = queries.stages_waiting_for(session, user.email, user.roles)
    reviews = queries.reviews_owed(session, user.email)
    owned = drafts.of_owner(session, user.email)
    return Home(
        waiting=[
            HomeGate(use_case_id=g["use_case_id"], gate_id=g["gate_id"], version=g["version"], name=g["name"],
                     aims_tier=g["aims_tier"], label=g["label"], due_at=g["due_at"], stalled=g["stalled"])  # fmt: skip
            for g in gates[:SHOWN]
        ],
        waiting_total=len(gates),
        use_cases=[
            HomeCase(id=c.id, name=c.name, status=c.status, aims_tier=c.aims_tier,
                     waiting_for=[f"{w['label']} ({who(w['who'])}, due {w['due_at'][:10]})" for w in waiting_on[c.id]])
            for c in cases
        ],  # fmt: skip
        use_cases_total=total,
        stages=_items(stages),
        stages_total=len(stages),
        reviews=_items(reviews),
        reviews_total=len(reviews),
        drafts=[HomeDraft(id=d.id, name=d.name or "(no name yet)") for d in owned[:SHOWN]],
        drafts_total=len(owned),
    )


def _items(waiting: list[dict[str, Any]]) -> list[HomeItem]:
    """The first of a list (soonest due first)."""
    return [
        HomeItem(use_case_id=w["use_case_id"], name=w["name"], label=w["label"], due_at=w["due_at"])
        for w in waiting[:SHOWN]
    ]
