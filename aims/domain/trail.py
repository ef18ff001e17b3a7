"""A use case's audit events in plain words, for the people who read the trail (the use case
page, the evidence pack): "approved the risk review gate (version 1): “ok”" rather than
`gate_decided`. The event itself stays what the chain hashes; this only reads it.

Every event type the domain records has a sentence here (`tests/test_trail.py` fails when one
is added without); an event of a kind unknown here, or with data of an older shape, still reads
as its type in words, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aims.domain.wording import STAGE_WAITING, counted, role_name

Data = Mapping[str, Any]

_DECISIONS = {"approve": "approved", "reject": "rejected", "request_changes": "requested changes to"}
_REVIEW_OUTCOMES = {"revision": "a revision of the intake", "decommission": "decommissioning"}
_TRIGGERS = {"periodic": "periodic", "incident": "after an incident", "owner": "at the owner's request"}


def describe(event_type: str, data: Data | None) -> str:
    """What the event says happened, in one line (without who and when: the trail shows those)."""
    sentence = _SENTENCES.get(event_type)
    if sentence is not None:
        try:
            return sentence(data or {})
        except (KeyError, TypeError, AttributeError, ValueError):
            pass  # recorded by an older version in another shape: its type still says what it was
    return event_type.replace("_", " ")


def _gate(data: Data) -> str:
    kind = str(data.get("kind", "")).replace("_", " ")
    return f"the {role_name(data['role'])} {kind + ' ' if kind else ''}gate"


def _when(value: str | None) -> str:
    """An ISO instant as the trail reads it: '2027-01-09 12:00 UTC'."""
    return f"{value[:10]} {value[11:16]} UTC" if value else "—"


def _quoted(text: str | None, lead: str = ": ") -> str:
    return f"{lead}“{text}”" if text else ""


def _classified(data: Data) -> str:
    classification, routing = data["classification"], data.get("routing") or {}
    flags = classification.get("flags") or []
    reviewers = [role_name(role) for role in routing.get("review_roles") or []]
    final = routing.get("final_role")
    route = []
    if reviewers:
        route.append("review by " + ", ".join(reviewers))
    if final:
        route.append(f"final approval by the {role_name(final)}")
    return (
        f"classified automatically under policy {classification['rubric_version']}: "
        f"{classification['regulatory_category']}, {classification['aims_tier']}"
        + (f" (flags: {', '.join(flags)})" if flags else "")
        + (f"; {', '.join(route)}" if route else "")
    )


def _status_changed(data: Data) -> str:
    before = data.get("before")
    move = f"status {before} → {data['after']}" if before else f"status {data['after']}"
    return move + (f" ({data['reason']})" if data.get("reason") else "")


def _gate_decided(data: Data) -> str:
    version = f" (version {data['gate_version']})" if data.get("gate_version") else ""
    return f"{_DECISIONS.get(data['decision'], data['decision'])} {_gate(data)}{version}{_quoted(data.get('comment'))}"


def _review_answered(data: Data) -> str:
    answer = data["answer"]
    changed = [what.replace("_", " ") for what, said in (answer.get("material_change") or {}).items() if said != "no"]
    incidents = answer.get("incidents_since_last_review", 0)
    return (
        f"answered re-review {data['review']}: proposes to {answer['proposal']}; "
        f"KPIs {answer.get('kpis', '—')}; {counted(incidents, 'incident')} since the last review; "
        + (f"material change in {', '.join(changed)}" if changed else "no material change")
        + _quoted(answer.get("comment"), ". ")
    )


def _incident_reported(data: Data) -> str:
    return f"reported incident {data['number']} ({data.get('severity', '—')}){_quoted(data.get('description'))}"


def _incident_triaged(data: Data) -> str:
    outcome = "the use case suspended" if data.get("suspend") else "the use case kept running"
    return f"triaged incident {data['incident']}: {outcome}{_quoted(data.get('comment'), '; ')}"


def _checklist(data: Data) -> str:
    checklist = data.get("checklist") or {}
    open_items = [item.replace("_", " ") for item, done in checklist.items() if done is False]
    state = f"not done: {', '.join(open_items)}" if open_items else "every item done"
    return f"confirmed the decommission checklist ({state}){_quoted(checklist.get('note'), '; ')}"


def _rung(word: str) -> Callable[[Data], str]:
    """A rung of a deadline's ladder (`aims.domain.deadlines`): a reminder to whoever must act,
    then the AIMS owner, then the executives."""

    def gate(data: Data) -> str:
        return f"{word}: {_gate(data)} waits for a decision"

    return gate


def _stage(word: str) -> Callable[[Data], str]:
    def stage(data: Data) -> str:
        waiting = STAGE_WAITING.get(data["status"], f"status {data['status']}")
        return f"{word}: still waiting for {waiting} ({data['status']}), due {_when(data.get('due_at'))}"

    return stage


def _review_rung(word: str) -> Callable[[Data], str]:
    def review(data: Data) -> str:
        return f"{word}: re-review {data['review']} waits for the owner's answer, due {_when(data.get('due_at'))}"

    return review


_SENTENCES: dict[str, Callable[[Data], str]] = {
    "intake_submitted": lambda data: "submitted the intake",
    "intake_revised": lambda data: f"revised the intake (a new version){_quoted(data.get('reason'))}",
    "classified": _classified,
    "status_changed": _status_changed,
    "assessment_submitted": lambda data: "submitted the risk and impact assessment",
    "gate_opened": lambda data: f"opened {_gate(data)}, due {_when(data.get('due_at'))}",
    "gate_decided": _gate_decided,
    "gate_superseded": lambda data: f"closed {_gate(data)} unused (superseded)",
    "gate_reminder": _rung("reminder"),
    "gate_stalled": _rung("stalled, the AIMS owner told"),
    "gate_escalated": _rung("escalated to the executives"),
    "stage_reminder": _stage("reminder"),
    "stage_stalled": _stage("stalled, the AIMS owner told"),
    "stage_escalated": _stage("escalated to the executives"),
    "signed_off": lambda data: f"signed off the deployment; next re-review due {_when(data.get('next_review_due'))}",
    "review_opened": lambda data: (
        f"opened re-review {data['review']} ({_TRIGGERS.get(data.get('trigger', ''), data.get('trigger'))}), "
        f"due {_when(data.get('due_at'))}"
    ),
    "review_answered": _review_answered,
    "review_completed": lambda data: f"completed re-review {data['review']}: the use case continues",
    "review_closed": lambda data: (
        f"closed re-review {data['review']} with {_REVIEW_OUTCOMES.get(data['outcome'], data['outcome'])}"
    ),
    "review_reminder": _review_rung("reminder"),
    "review_overdue": _review_rung("overdue, the AIMS owner told"),
    "review_escalated": _review_rung("escalated to the executives"),
    "incident_reported": _incident_reported,
    "incident_triaged": _incident_triaged,
    "suspended": lambda data: f"suspended the use case{_quoted(data.get('reason'))}",
    "suspension_lifted": lambda data: f"lifted the suspension{_quoted(data.get('reason'))}",
    "decommission_requested": lambda data: f"requested decommissioning{_quoted(data.get('reason'))}",
    "decommission_checklist_confirmed": _checklist,
    "withdrawn": lambda data: f"withdrew the use case{_quoted(data.get('reason'))}",
}

# The event types worded here.
EVENT_TYPES = frozenset(_SENTENCES)
