"""The benches still run and end with their one JSON line (tiny runs: the figures themselves are
measured by hand, never asserted by a timed test)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import profiles

ROOT = Path(__file__).resolve().parent.parent


def last_json_line(*arguments: str) -> dict:
    done = subprocess.run(
        [sys.executable, *arguments, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_lifecycle_bench_ends_with_its_figures() -> None:
    figures = last_json_line("bench/lifecycle.py", "-n", "4", "--concurrency", "2")
    assert {"lifecycles_per_s", "minimal_per_s", "throughput_ratio", "decision_p50_ms", "decision_p99_ms",
            "minimal_p50_ms", "p50_ratio", "concurrency"} <= figures.keys()  # fmt: skip
    assert figures["concurrency"] == 2 and figures["lifecycles_per_s"] > 0


def test_lifecycle_bench_shows_where_the_processes_cpu_goes() -> None:
    done = subprocess.run(
        [sys.executable, "bench/lifecycle.py", "-n", "2", "--concurrency", "2", "--rounds", "1", "--profile"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for process in ("worker", "api"):
        assert f"{process}: the innermost aims frame" in done.stdout
        assert re.search(rf"^{process}: [0-9.]+ s holding the GIL", done.stdout, re.MULTILINE)
    assert "record_transition (aims/persistence/register.py)" in done.stdout  # the register write, by function


def test_a_profile_counts_each_function_once_and_leaves_start_up_out(tmp_path: Path) -> None:
    (tmp_path / "worker.txt").write_text(
        "run (x.py:1);<module> (<frozen importlib._bootstrap>:1) 50\n"
        "run (x.py:1);record (aims/persistence/register.py:3);execute (sqlalchemy/engine.py:9) 3\n"
        "run (x.py:1);record (aims/persistence/register.py:4) 1\n"
    )
    lines = profiles.summary(tmp_path / "worker.txt")
    assert lines[0] == "worker: 0.0 s holding the GIL; frames by own time:"
    assert "   75.0%  execute (sqlalchemy/engine.py:9)" in lines
    assert "  100.0%  record (aims/persistence/register.py)" in lines


def test_slack_bench_ends_with_its_figures() -> None:
    figures = last_json_line("bench/slack_clicks.py", "-n", "3")
    assert {"ack_p50_ms", "ack_p99_ms", "visible_p50_ms", "visible_p99_ms", "clicks"} <= figures.keys()
    assert figures["clicks"] == 3 and figures["decided_once"] == 3


def test_replay_bench_ends_with_its_figures() -> None:
    figures = last_json_line("bench/replay.py", "-n", "2", "--rounds", "1")
    assert {"aims_ms_per_update", "minimal_ms_per_update", "update_cpu_ratio", "aims_activations_per_update",
            "minimal_activations_per_update", "replays"} <= figures.keys()  # fmt: skip
    assert figures["replays"] == 2 and figures["minimal_activations_per_update"] == 1.0


@pytest.mark.skipif(
    not os.environ.get("AIMS_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="the register bench loads PostgreSQL (AIMS_TEST_DATABASE_URL unset)",
)
def test_register_bench_ends_with_its_figures() -> None:
    server = os.environ["AIMS_TEST_DATABASE_URL"].rsplit("/", 1)[0]
    figures = last_json_line("bench/register.py", "-n", "60", "--requests", "5", "--server", server)
    assert {"list_p95_ms", "search_p95_ms", "detail_p95_ms", "use_cases", "concurrent_details_per_s"} <= figures.keys()
    assert figures["use_cases"] == 60
