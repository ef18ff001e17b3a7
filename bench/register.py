"""The register at scale: list, search and detail over HTTP with 10,000 use cases in PostgreSQL.

    .venv/bin/python bench/register.py [-n 10000] [--requests 300] [--server postgresql+psycopg://postgres@127.0.0.1:5432] [--json]

Creates a fresh database `aims_register_bench` on the server, loads N use cases straight
through the repository (`aims.persistence.register.record_transition`, as the worker writes
them; no workflows), in a realistic mix: every tier, most in production, some in review or
assessment, with their audit trails, gates and waiting items. Then `aims api` runs in its own
process (reads never touch Temporal) and each kind of request is timed one at a time:

- list: a page of 50, newest first, at a random offset, half of them filtered by status or tier;
- search: `q=` a word that matches a few hundred names;
- detail: one use case, as the AIMS owner (who may read them all).

Then 10 readers at once read details: reads per second and the API's CPU per read.
Prints p50/p95 of each; with --json the last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import random
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aims.persistence.db import migrate, transaction  # noqa: E402
from aims.persistence.models import UseCase  # noqa: E402
from aims.persistence.register import record_transition  # noqa: E402
from bench.cpu import cpu_seconds  # noqa: E402
from bench.harness import aims_processes, command_line, last_line, ms, percentile, scratch, stop, wait_until_ready  # noqa: E402
from tests import domain_kit as kit  # noqa: E402
from tests import people  # noqa: E402
from tests.intakes import changed, code_assistant, invoice_ocr  # noqa: E402
from tests.net import free_port  # noqa: E402

DATABASE = "aims_register_bench"
WORDS = ["invoice", "chat", "fraud", "forecast", "triage", "search", "summary", "vision", "pricing", "routing",
         "translation", "screening", "scoring", "assistant", "detector", "planner", "matching", "review", "ledger",
         "support"]  # fmt: skip
T0 = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)
READERS = 10


def fresh_database(server: str) -> str:
    """Drop and create the bench's database; its SQLAlchemy URL."""
    url = make_url(server)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return url.set(drivername="postgresql+psycopg", database=DATABASE).render_as_string(hide_password=False)


def one_use_case(index: int, rng: random.Random) -> list[tuple[Any, Any]]:
    """The transitions of one use case: intake, and as far along as the mix says."""
    owner = "owner@example.com"
    intake = code_assistant(owner) if index % 3 else invoice_ocr(owner)
    name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {index}"
    intake = changed(intake, name=name)
    created = T0 + dt.timedelta(minutes=17 * index)
    state, transition = kit.begin(intake, kit.REQ.email, created)
    state = state.model_copy(update={"id": str(uuid.UUID(int=rng.getrandbits(128)))})
    steps = [(state, transition)]
    stage = rng.random()
    if stage < 0.1:
        return steps  # waiting for its assessment
    state, transition = kit.apply(state, kit.assess(kit.OWNER), created)
    steps.append((state, transition))
    if stage < 0.25:
        return steps  # in review
    state = kit.approve_all(state, created)
    state, transition = kit.apply(state, kit.sign_off(kit.OWNER, state), created)
    steps.append((state, transition))  # in production
    return steps


BATCH = 200


def load_batch(database_url: str, first: int, count: int) -> None:
    rng = random.Random(first)
    with transaction(database_url) as session:
        for index in range(first, min(first + BATCH, count)):
            for state, transition in one_use_case(index, rng):
                record_transition(session, state, transition, state.updated_at, channels=[])


def load(database_url: str, count: int) -> float:
    """Two loaders, one per core (the machine has two); each batch is one transaction."""
    started = time.perf_counter()
    # Spawned, not forked: a forked child would share this process's database connections.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(load_batch, repeat(database_url), range(0, count, BATCH), repeat(count)))
    # What autovacuum does soon after a bulk load: statistics and the visibility map.
    with psycopg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False), autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


async def measure(http: httpx.AsyncClient, token: str, requests: int, count: int, ids: list[str]) -> dict[str, list[float]]:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}

    async def timed(path: str, params: dict[str, Any] | None = None) -> float:
        started = time.perf_counter()
        response = await http.get(path, params=params, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
        return elapsed

    timings: dict[str, list[float]] = {"list": [], "search": [], "detail": []}
    for _ in range(requests):
        params: dict[str, Any] = {"limit": 50, "offset": rng.randrange(0, max(count - 50, 1))}
        if rng.random() < 0.5:
            params |= rng.choice([{"status": "in_production"}, {"aims_tier": "T2_MEDIUM"}, {"status": "in_review"}])
            params["offset"] = rng.randrange(0, 200)
        timings["list"].append(await timed("/api/use-cases", params))
        timings["search"].append(await timed("/api/use-cases", {"q": rng.choice(WORDS), "limit": 50}))
        timings["detail"].append(await timed(f"/api/use-cases/{rng.choice(ids)}"))
    return timings


async def concurrent_details(
    http: httpx.AsyncClient, token: str, ids: list[str], api_pid: int, readers: int, reads: int
) -> tuple[float, float]:
    """Details read by `readers` at once: reads per second, and API CPU seconds per read."""
    rng = random.Random(11)
    wanted = [rng.choice(ids) for _ in range(reads)]
    headers = {"Authorization": f"Bearer {token}"}

    async def reader(mine: list[str]) -> None:
        for use_case_id in mine:
            response = await http.get(f"/api/use-cases/{use_case_id}", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"detail {use_case_id}: {response.status_code} {response.text[:300]}")

    cpu, started = cpu_seconds(api_pid), time.perf_counter()
    await asyncio.gather(*(reader(wanted[turn::readers]) for turn in range(readers)))
    return reads / (time.perf_counter() - started), (cpu_seconds(api_pid) - cpu) / reads


async def main(count: int, requests: int, server: str, as_json: bool) -> None:
    logs = scratch()
    database_url = fresh_database(server)
    migrate(database_url)
    tokens = people.seed(database_url)
    print(f"loading {count} use cases into {DATABASE} through the repository …")
    seconds = load(database_url, count)
    print(f"loaded in {seconds:.1f} s")
    with transaction(database_url) as session:
        ids = list(session.scalars(select(UseCase.id)))
    port = free_port()
    # Reads never connect to Temporal: the address is never dialled.
    processes = aims_processes("127.0.0.1:1", database_url, "unused", port, workers=0, logs=logs)  # reads only
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            await wait_until_ready(http, temporal=False)
            await measure(http, tokens["aims@example.com"], 20, count, ids)  # warm up
            timings = await measure(http, tokens["aims@example.com"], requests, count, ids)
            per_s, cpu = await concurrent_details(http, tokens["aims@example.com"], ids, processes[0].pid, READERS,
                                                  10 * requests)  # fmt: skip
    finally:
        stop(processes)
    results = {
        "list_p95_ms": ms(percentile(timings["list"], 0.95)),
        "search_p95_ms": ms(percentile(timings["search"], 0.95)),
        "detail_p95_ms": ms(percentile(timings["detail"], 0.95)),
        "use_cases": len(ids),
        "list_p50_ms": ms(percentile(timings["list"], 0.5)),
        "search_p50_ms": ms(percentile(timings["search"], 0.5)),
        "detail_p50_ms": ms(percentile(timings["detail"], 0.5)),
        "requests_each": requests,
        "load_seconds": round(seconds, 1),
        "concurrent_readers": READERS,
        "concurrent_details_per_s": round(per_s, 1),
        "api_cpu_ms_per_detail": ms(cpu),
    }
    print(f"use cases in the register: {len(ids)} (PostgreSQL)")
    for kind in ("list", "search", "detail"):
        print(f"{kind:7s} p50 {results[f'{kind}_p50_ms']:6.1f} ms  p95 {results[f'{kind}_p95_ms']:6.1f} ms  (target p95 < 50 ms)")
    print(f"{READERS} readers at once: {results['concurrent_details_per_s']} details/s, "
          f"API CPU {results['api_cpu_ms_per_detail']} ms per read")
    last_line(results, as_json)


if __name__ == "__main__":
    parser = command_line(__doc__)
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind")
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432", help="a PostgreSQL server")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.requests, arguments.server, arguments.json))
