"""What the benches share: the Temporal dev server, aims as separate API and worker processes
(as deployed), percentiles, and the one JSON line every bench ends with."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aims.cli import binary
from aims.payloads import new_key
from aims.signing import new_signing_key
from bench import profiles
from bench.cpu import with_children


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def scratch() -> Path:
    """A directory for the run's database and process logs (printed, kept for a look afterwards)."""
    directory = Path(tempfile.mkdtemp(prefix="aims-bench-"))
    print(f"logs in {directory}")
    return directory


async def dev_server() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=pydantic_data_converter, ui=False,
        dev_server_log_level="error",
    )  # fmt: skip


def aims_processes(
    temporal: str,
    database_url: str,
    task_queue: str,
    port: int,
    *,
    workers: int,
    logs: Path,
    environment: Mapping[str, str] | None = None,
    profile: Path | None = None,
) -> list[subprocess.Popen[bytes]]:
    """`aims worker` and `aims api`, each in its own process, as in a split deployment (logs in
    `logs`): [worker, api], or [api] alone with workers=0. With `profile`, each runs under the
    profiler, which writes `profile/worker.txt` and `profile/api.txt` when it is stopped."""
    variables = os.environ | {
        "TEMPORAL_ADDRESS": temporal,
        "AIMS_DATABASE_URL": database_url,
        "AIMS_TASK_QUEUE": task_queue,
        "AIMS_LOG_LEVEL": "warning",
        "AIMS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # Sealed payloads and a signing key, as deployed (one each for the run, shared by its processes).
        "AIMS_PAYLOAD_KEYS": os.environ.get("AIMS_PAYLOAD_KEYS") or new_key("bench"),
        "AIMS_SIGNING_KEY_FILE": str(logs / "signing_key.pem"),
    } | dict(environment or {})
    if not (logs / "signing_key.pem").exists():
        new_signing_key(logs / "signing_key.pem")
    # As deployed, modules load from cached bytecode (the image compiles it at install). Without
    # it, every workflow's sandbox compiles the workflow's source again: 15% of the worker's CPU.
    variables.pop("PYTHONDONTWRITEBYTECODE", None)
    aims = [sys.executable, "-m", "aims.cli"]
    profiled = lambda name: profiles.command(name, profile) if profile else []  # noqa: E731
    api = subprocess.Popen([*profiled("api"), *aims, "api", "--host", "127.0.0.1", "--port", str(port)], env=variables,
                           stdout=(logs / "api.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    if not workers:
        return [api]
    worker = subprocess.Popen([*profiled("worker"), *aims, "worker", "--processes", str(workers)], env=variables,
                              stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    return [worker, api]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate, and kill what has not stopped in 30 s: a bench leaves nothing running. A
    profiler's process is stopped through the one it profiles: it writes its file when that ends."""
    targets = {process.pid: _stopped_through(process) for process in processes}
    _signal([pid for pids in targets.values() for pid in pids], signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal(targets[process.pid], signal.SIGKILL)
            process.wait()


def _stopped_through(process: subprocess.Popen[bytes]) -> list[int]:
    """The processes to signal to stop `process`: under the profiler, the ones it profiles."""
    return (with_children(process.pid)[1:] if profiles.PROFILER in process.args[0] else []) or [process.pid]


def _signal(pids: list[int], number: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended already
            os.kill(pid, number)


async def wait_until_ready(http: httpx.AsyncClient, *, temporal: bool = True) -> None:
    """Until /healthz says so (or, with temporal=False, until the API answers at all)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await http.get("/healthz")).status_code == 200 or not temporal:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the API did not become healthy")


class RawConnection:
    """One kept-alive HTTP/1.1 connection that sends prepared bytes and reads the answer: what
    Slack's side costs here is a socket write, so the bench times aims, not an HTTP library."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed it while idle (keep-alive timeout), before reading this
            raise ConnectionResetError("the connection was closed")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def command_line(doc: str | None) -> argparse.ArgumentParser:
    """A bench's options: its docstring as the help, and --json for the one JSON line last."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    return parser


def last_line(results: dict[str, Any], as_json: bool) -> None:
    """With --json, the machine-readable summary: one JSON object, always the last line printed."""
    if as_json:
        print(json.dumps(results))
