"""Layers only point down (docs/architecture.md):

    aims.domain ← aims.persistence ← activities, workflows ← aims.application ← api, notifications ← aims.cli

Read from every module's imports (also those inside functions), so a shortcut fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import repo_root

TOP = ("api", "notifications", "activities", "workflows", "aims.cli", "aims.application")
# package -> what it may never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "aims.domain": (*TOP, "aims.persistence", "aims.settings", "sqlalchemy", "temporalio", "fastapi", "slack_sdk",
                    "jinja2", "httpx", "yaml"),
    "aims.persistence": TOP,
    "aims.settings": (*TOP, "aims.persistence"),
    "aims.audit": (*TOP, "aims.persistence"),
    "aims.connection": (*TOP, "aims.persistence"),
    "aims.observability": (*TOP, "aims.persistence"),
    "aims.signing": (*TOP, "aims.persistence", "aims.settings"),
    "aims.verify_evidence": ("aims", "api", "notifications", "activities", "workflows"),  # standalone: auditors run it
    "workflows": ("api", "notifications", "activities", "aims.cli", "aims.application", "aims.persistence",
                  "aims.settings", "sqlalchemy", "slack_sdk", "jinja2", "httpx", "fastapi", "yaml"),
    "activities": ("api", "notifications", "aims.cli", "aims.application", "workflows"),
    "aims.application": ("api", "notifications", "activities", "workflows", "aims.cli"),
    "notifications": ("api", "aims.cli", "workflows"),
    "api": ("activities", "workflows", "aims.cli"),
}  # fmt: skip


def modules() -> list[tuple[str, Path]]:
    root = repo_root()
    found = []
    for package in ("aims", "api", "notifications", "activities", "workflows"):
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            found.append((name, path))
    return sorted(found)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda value: value if isinstance(value, str) else "")
def test_imports_point_down(module: str, path: Path):
    rules = [(layer, banned) for layer, banned in FORBIDDEN.items() if _within(module, layer)]
    if not rules:
        return
    layer, banned = max(rules, key=lambda rule: len(rule[0]))  # the most specific layer rules
    wrong = sorted(name for name in imports_of(path) for ban in banned if _within(name, ban))
    assert not wrong, f"{module} ({layer}) imports {wrong}"


def test_the_workflows_package_init_is_empty():
    """It runs inside the sandbox whenever a workflow module is imported (samples-python advice)."""
    assert (repo_root() / "workflows" / "__init__.py").read_text().strip() == ""


# ------------------------------------------------------------ deterministic workflow code

# What workflow code must never reach for (it replays): the clock, randomness, the environment,
# threads, the network and files. Temporal gives workflows their own (`workflow.now()`, timers).
NONDETERMINISTIC_MODULES = ("random", "secrets", "threading", "socket", "subprocess", "time", "os")
NONDETERMINISTIC_NAMES = ("datetime.now", "datetime.utcnow", "datetime.today", "date.today", "uuid.uuid1",
                          "uuid.uuid4", "os.environ", "os.getenv")  # fmt: skip
NONDETERMINISTIC_BUILTINS = ("open", "input")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def nondeterministic_calls(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [module] if module else [alias.name for alias in node.names]
            found += [f"import {name}" for name in names if name and name.split(".")[0] in NONDETERMINISTIC_MODULES]
        elif isinstance(node, ast.Attribute):
            name = _dotted(node)
            found += [name for banned in NONDETERMINISTIC_NAMES if name == banned or name.endswith("." + banned)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NONDETERMINISTIC_BUILTINS:
            found.append(f"{node.func.id}()")
    return found


def test_the_determinism_check_finds_what_it_looks_for():
    source = "import random\nimport datetime as dt\nx = dt.datetime.now()\nopen('f')\nfrom os import environ\n"
    assert set(nondeterministic_calls(source)) == {"import random", "dt.datetime.now", "open()", "import os"}


@pytest.mark.parametrize(
    ("module", "path"),
    [(name, path) for name, path in modules() if _within(name, "workflows") or _within(name, "aims.domain")],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_workflow_code_reads_no_clock_randomness_environment_or_files(module: str, path: Path):
    """The use case workflow runs unsandboxed in production (workflows/use_case.py says why);
    this, and the sandboxed test runs, are what keep it deterministic."""
    assert not nondeterministic_calls(path.read_text()), module
