"""The audit trail reads in words (`aims.domain.trail`): every event the domain records has a
sentence that fits its data, and an event it does not know, or of an older shape, still reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aims.domain import trail

ROOT = Path(__file__).parent.parent


def _recorded_types() -> set[str]:
    """Every event type the domain's code can record: `event("type", …)` and the ladders' rungs."""
    source = "\n".join(path.read_text() for path in (ROOT / "aims" / "domain").glob("*.py"))
    return set(re.findall(r'\.event\(\s*"([a-z_]+)"', source)) | set(
        re.findall(r'"((?:gate|stage|review)_(?:reminder|stalled|escalated|overdue))"', source)
    )


def _golden_events() -> list[dict]:
    return [event for path in sorted((ROOT / "tests" / "golden").glob("*.json"))
            for step in json.loads(path.read_text()) for event in step.get("events", [])]  # fmt: skip


def test_every_event_the_domain_records_has_a_sentence():
    recorded = _recorded_types()
    assert {"gate_decided", "withdrawn", "review_overdue", "stage_escalated"} <= recorded  # the scan finds them
    assert recorded <= trail.EVENT_TYPES, recorded - trail.EVENT_TYPES


def test_each_recorded_event_reads_as_a_sentence_of_its_own_data():
    events = _golden_events()
    not_in_golden = {"withdrawn", "review_overdue", "review_escalated"}  # worded in the examples below
    assert {event["type"] for event in events} >= trail.EVENT_TYPES - not_in_golden
    for event in events:
        sentence = trail.describe(event["type"], event["data"])
        assert sentence != event["type"].replace("_", " "), event  # not the fallback: the data fits


def test_a_decision_says_what_on_which_version_and_why():
    decided = {"gate_id": "v2-review-risk", "role": "risk", "kind": "review", "decision": "request_changes",
               "comment": "Pin the model", "gate_version": 2}  # fmt: skip
    assert trail.describe("gate_decided", decided) == (
        "requested changes to the risk review gate (version 2): “Pin the model”"
    )
    assert trail.describe("gate_decided", decided | {"decision": "approve", "comment": ""}) == (
        "approved the risk review gate (version 2)"
    )
    assert trail.describe("review_overdue", {"review": 3, "due_at": "2027-04-08T02:00:00+00:00"}) == (
        "overdue, the AIMS owner told: re-review 3 waits for the owner's answer, due 2027-04-08 02:00 UTC"
    )
    assert trail.describe("withdrawn", {"reason": "Not needed"}) == "withdrew the use case: “Not needed”"


def test_an_unknown_or_older_event_still_reads():
    assert trail.describe("gate_decided", {"overdue_level": 1}) == "gate decided"  # an older shape
    assert trail.describe("gate_decided", None) == "gate decided"
    assert trail.describe("something_new", {"x": 1}) == "something new"
