"""Engine and sessions. Commit happens at the boundary: the request, the activity, the CLI."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL to print: never its password."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def failure_reason(error: Exception) -> str:
    """Why the database refused or could not be reached, in its driver's words: the first line,
    never the statement or its values (they may hold tokens or documents)."""
    return str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0]


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


@functools.cache
def engine_for(url: str) -> Engine:
    return make_engine(url)


Row = TypeVar("Row")


def add_once(session: Session, row: Row, made_already: Callable[[], Row | None]) -> Row:
    """Add a row keyed by the request that makes it; when the same request arrives twice at
    once, the unique key refuses the second, which answers with the first's row."""
    begin_writing(session)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = made_already()
        assert found is not None
        return found
    return row


def begin_writing(session: Session) -> None:
    """Begin the unit of work as a writer now. pysqlite begins a transaction only at the first
    write, so on SQLite what was read before it (a chain's head) was read outside the transaction,
    and an outermost savepoint released there committed the work so far. PostgreSQL needs none."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE")  # waits for the write lock, as a write does


@functools.cache
def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on error."""
    with session_factory(url).begin() as session:
        yield session


@functools.cache
def _read_sessions(url: str) -> sessionmaker[Session]:
    engine = engine_for(url)
    if engine.dialect.name == "postgresql":
        # At READ COMMITTED each statement reads its own snapshot, in a transaction or not: a read
        # needs no BEGIN and COMMIT, two of its few round trips. SQLite begins only to write anyway.
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def reading(url: str) -> Iterator[Session]:
    """A unit of work that only reads (on PostgreSQL a write in it would commit at once: use
    `transaction` for that)."""
    with _read_sessions(url)() as session:
        yield session


@functools.cache
def _sqlite_writer(url: str) -> threading.Lock:
    return threading.Lock()


@contextmanager
def write_transaction(url: str) -> Iterator[Session]:
    """A unit of work that writes a transition. SQLite takes one writer at a time, and its busy
    handler makes the others sleep and retry (seconds of tail latency under load): writers in
    this process queue on a lock instead. PostgreSQL locks rows and needs none of this."""
    if make_url(normalise_url(url)).get_backend_name() != "sqlite":
        with transaction(url) as session:
            yield session
        return
    with _sqlite_writer(url), transaction(url) as session:
        yield session


class _AlembicPreamble(logging.Filter):
    """Alembic announces its dialect on every run; only the upgrades it applies are news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_AlembicPreamble())


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to the newest Alembic revision (or to `revision`)."""
    script_location = resources.files("aims.persistence").joinpath("migrations")
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    command.upgrade(config, revision)
