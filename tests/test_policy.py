"""Durations and the policy file: ISO 8601 everywhere, AIMS_POLICY_FILE replaces the default."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aims.domain.durations import Duration
from aims.settings import PolicyError, load_policy
from tests.conftest import repo_root

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("P3M", dt.datetime(2026, 1, 15, tzinfo=UTC), dt.datetime(2026, 4, 15, tzinfo=UTC)),
        ("P1M", dt.datetime(2026, 1, 31, tzinfo=UTC), dt.datetime(2026, 2, 28, tzinfo=UTC)),
        ("P1Y", dt.datetime(2028, 2, 29, tzinfo=UTC), dt.datetime(2029, 2, 28, tzinfo=UTC)),
        ("P5D", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 6, tzinfo=UTC)),
        ("PT20S", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 1, 0, 0, 20, tzinfo=UTC)),
        ("P1DT12H", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 2, 12, tzinfo=UTC)),
        ("P2W", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 15, tzinfo=UTC)),
    ],
)
def test_durations_add_calendar_months(text, start, end):
    assert Duration.parse(text).after(start) == end


@pytest.mark.parametrize("text", ["", "P", "PT", "5D", "P-1D", "P0D", "3 months", "PT1.5"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        Duration.parse(text)


def test_sla_fraction_points():
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert Duration.parse("P5D").fraction_after(start, 0.5) == start + dt.timedelta(days=2, hours=12)
    assert Duration.parse("P5D").fraction_after(start, 2.0) == start + dt.timedelta(days=10)


def test_default_policy_has_the_contract_keys():
    raw = yaml.safe_load((repo_root() / "aims/policy/default.yaml").read_text())
    assert {"version", "review_interval", "gate_sla", "review_sla", "routing"} <= set(raw)
    assert set(raw["review_interval"]) == {"T1_LOW", "T2_MEDIUM", "T3_HIGH"}
    policy = load_policy(None)
    assert policy.gate_sla == "P5D" and policy.review_interval["T2_MEDIUM"] == "P3M"


def _write_policy(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load((repo_root() / "aims/policy/default.yaml").read_text())
    raw.update(changes)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_policy_file_replaces_the_default(tmp_path):
    path = _write_policy(
        tmp_path, version="demo-1", review_interval={"T1_LOW": "PT1M", "T2_MEDIUM": "PT1M", "T3_HIGH": "PT1M"}
    )
    policy = load_policy(path)
    assert policy.version == "demo-1"
    assert policy.timing().review_interval_for("T2_MEDIUM").after(dt.datetime(2026, 1, 1, tzinfo=UTC)) == dt.datetime(
        2026, 1, 1, 0, 1, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gate_sla": "5 days"}, "gate_sla"),
        ({"review_interval": {"T1_LOW": "P3M"}}, "missing tiers"),
        ({"escalators": [{"rule": "X-1", "theme": "t", "min_tier": "T2_MEDIUM",
                          "when": {"field": "people.nope", "is": "yes"}}]}, "unknown field 'people.nope'"),
        ({"escalators": [{"rule": "X-1", "theme": "t", "min_tier": "T2_MEDIUM",
                          "when": {"fact": "moon_phase"}}]}, "unknown fact"),
        ({"version": ""}, "version"),
        ({"theme_controls": {"privacy": ["A.99.1"]}}, "A.99.1"),
    ],
)  # fmt: skip
def test_a_broken_policy_is_refused_with_the_key(tmp_path, changes, message):
    with pytest.raises(PolicyError) as error:
        load_policy(_write_policy(tmp_path, **changes))
    assert message in str(error.value)


def test_cli_refuses_to_start_with_a_broken_policy(tmp_path):
    path = _write_policy(tmp_path, gate_sla="soon")
    result = subprocess.run(
        [sys.executable, "-m", "aims.cli", "users", "list"],
        env={"AIMS_POLICY_FILE": str(path), "AIMS_DATA_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "gate_sla" in result.stderr


def test_the_demo_policy_extends_the_default():
    policy = load_policy(repo_root() / "docs/examples/demo-policy.yaml")
    assert policy.version == "2026.1-demo"
    assert policy.review_interval["T2_MEDIUM"] == "PT1M"
    assert len(policy.escalators) == len(load_policy(None).escalators)


def test_readme_example_bodies_are_valid():
    import json

    from aims.domain import actions
    from aims.domain.intake import Intake

    examples = repo_root() / "docs/examples"
    Intake.model_validate(json.loads((examples / "intake-t2.json").read_text()))
    actions.Assessment.model_validate(json.loads((examples / "assessment.json").read_text()))
    actions.SignOff.model_validate(json.loads((examples / "sign-off.json").read_text()))
    actions.ReviewAnswer.model_validate(json.loads((examples / "review-continue.json").read_text()))
    actions.DecommissionChecklist.model_validate(json.loads((examples / "checklist.json").read_text()))
