"""`aims` as a new user runs it: users from the CLI, then `aims dev` serving the API, stopped
with Ctrl-C and started again without losing anything."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aims.cli import binary
from aims.payloads import new_key
from aims.signing import new_signing_key
from tests.intakes import ASSESSMENT, SIGNOFF, code_assistant


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aims(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aims.cli", *args], env=env, capture_output=True, text=True)


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMS_", "TEMPORAL_"))}
    return env | {"AIMS_DATA_DIR": str(tmp_path / "data")}


def test_users_add_prints_the_token_alone_on_its_last_line(environment):
    result = aims("users", "add", "--email", "Ana@Example.com", "--name", "Ana", "--role", "risk",
                  "--role", "privacy", "--slack-id", "U123", env=environment)  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("aims_") and " " not in token
    listed = aims("users", "list", env=environment).stdout
    assert "ana@example.com  Ana  roles=privacy,requester,risk  slack=U123" in listed
    again = aims("users", "add", "--email", "ana@example.com", "--name", "Ana", env=environment)
    assert again.returncode == 1 and "exists" in again.stderr
    bad_role = aims("users", "add", "--email", "b@example.com", "--name", "B", "--role", "boss", env=environment)
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


class Dev:
    def __init__(self, environment: dict[str, str]):
        self.env = environment
        self.port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aims.cli", "dev", "--port", str(self.port),
             "--temporal-port", str(self.temporal_port), "--temporal-ui-port", str(self.ui_port)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            process_group=0,  # as in a terminal: Ctrl-C goes to the whole foreground group
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.process.stdout.read()  # type: ignore[union-attr]
            time.sleep(0.2)
        raise AssertionError("aims dev did not become healthy")

    def stop(self, signal_number: int = signal.SIGINT) -> str:
        """Ctrl-C (or the terminal closing: SIGHUP) to the whole group: everything stops, the
        Temporal server last (nothing warns that it went first, nothing is left running)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal_number)
        output, _ = self.process.communicate(timeout=30)
        assert " WARN" not in output, output
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", self.temporal_port)) != 0, "the Temporal server still runs"
        return output


def test_aims_dev_serves_everything_and_a_restart_loses_nothing(environment):
    tokens = {}
    for email, role in (("req@example.com", None), ("owner@example.com", None), ("aims@example.com", "aims_owner")):
        args = ["users", "add", "--email", email, "--name", email.split("@")[0]] + (["--role", role] if role else [])
        tokens[email] = aims(*args, env=environment).stdout.strip().splitlines()[-1]

    def call(dev: Dev, who: str, path: str, body: object | None = None) -> dict:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        url = f"http://127.0.0.1:{dev.port}{path}"
        response = httpx.post(url, json=body, headers=headers, timeout=30) if body is not None else httpx.get(
            url, headers=headers, timeout=30
        )
        assert response.status_code < 300, response.text
        return response.json()

    dev = Dev(environment)
    dev.start()
    try:
        intake = json.loads(json.dumps(code_assistant()))
        intake["security"]["untrusted_input"] = "no"  # T1: only the AIMS owner's gate
        intake["security"]["confidential_access"] = "no"
        uc = call(dev, "req@example.com", "/api/use-cases", intake)["id"]
        call(dev, "owner@example.com", f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    finally:
        output = dev.stop()
    assert f"http://127.0.0.1:{dev.port}/" in output and f"http://127.0.0.1:{dev.ui_port}/" in output
    assert " INFO uvicorn.error: Application startup complete." in output  # text for the person watching
    assert '"level": ' not in output

    dev.start()  # same data directory: the Temporal state and the register survive
    try:
        assert call(dev, "aims@example.com", f"/api/use-cases/{uc}")["status"] == "in_review"
        state = call(dev, "aims@example.com", f"/api/use-cases/{uc}/gates/v1-final-aims_owner/decision",
                     {"decision": "approve"})  # fmt: skip
        assert state["status"] == "approved"
        state = call(dev, "owner@example.com", f"/api/use-cases/{uc}/sign-off", SIGNOFF)
        assert state["status"] == "in_production"
        assert call(dev, "aims@example.com", f"/api/use-cases/{uc}/audit")["verified"]
    finally:
        dev.stop(signal.SIGHUP)


def test_aims_dev_killed_outright_takes_its_temporal_server_with_it(environment):
    """`kill -9` leaves aims no time to stop the server it started; the kernel stops it instead,
    so its ports are free for the next `make run`."""
    dev = Dev(environment)
    dev.start()
    assert dev.process is not None
    os.killpg(dev.process.pid, signal.SIGKILL)
    dev.process.wait(timeout=30)
    wait_until_closed(dev.temporal_port)


def wait_until_closed(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        assert time.monotonic() < deadline, f"something still listens on {port}"
        time.sleep(0.2)


@pytest.mark.parametrize("taken", ["port", "temporal_port", "ui_port"])
def test_aims_dev_refuses_a_port_in_use_before_it_starts_anything(environment, taken):
    """Another `aims dev` holding the port: its Temporal must not serve ours, nor our worker take its tasks."""
    dev = Dev(environment)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", getattr(dev, taken)))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "-m", "aims.cli", "dev", "--port", str(dev.port),
             "--temporal-port", str(dev.temporal_port), "--temporal-ui-port", str(dev.ui_port)],
            env=environment, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"127.0.0.1:{getattr(dev, taken)} is in use" in result.stderr
    assert "aims API and web UI" not in result.stdout  # nothing claimed to be serving
    assert not (Path(environment["AIMS_DATA_DIR"]) / "temporal.log").exists()  # no server started


def test_a_command_without_its_database_says_so_in_one_line(environment):
    env = environment | {"AIMS_DATABASE_URL": f"postgresql://aims:hunter2@127.0.0.1:{free_port()}/aims"}
    for command in (["migrate"], ["users", "add", "--email", "a@example.com", "--name", "A"]):
        result = aims(*command, env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "the database postgresql+psycopg://aims:***@127.0.0.1:" in result.stderr
        assert "is unavailable" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout


def test_a_worker_started_before_temporal_waits_for_it_and_stops_cleanly(environment, tmp_path: Path):
    """As in a compose start: no traceback and no exit while Temporal is not up; polling once it is."""
    temporal_port = free_port()
    env = worker_environment(environment, tmp_path, temporal_port)
    worker = subprocess.Popen([sys.executable, "-m", "aims.cli", "worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    server = None
    try:
        read_until(worker, "waiting for Temporal at 127.0.0.1:")
        server = temporal_server(temporal_port)
        read_until(worker, "worker polling")
        worker.send_signal(signal.SIGINT)
        rest, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0 and "Traceback" not in rest, rest
    finally:
        for process in (worker, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_worker_processes_end_with_the_worker_that_started_them(environment, tmp_path: Path):
    """`aims worker --processes 2` killed outright: its second process does not poll on, orphaned."""
    temporal_port = free_port()
    env = worker_environment(environment, tmp_path, temporal_port)
    server = temporal_server(temporal_port)
    worker = subprocess.Popen([sys.executable, "-m", "aims.cli", "worker", "--processes", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        read_until(worker, "worker polling")
        read_until(worker, "worker polling")
        children = [int(pid) for pid in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
        assert len(children) == 1
        worker.kill()
        worker.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _running(children[0]):
            assert time.monotonic() < deadline, "the second worker process outlived the first"
            time.sleep(0.2)
    finally:
        for process in (worker, server):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_api_processes_end_with_the_api_that_started_them(environment, tmp_path: Path):
    """`aims api --workers 2` killed outright: the processes uvicorn started stop serving."""
    port = free_port()
    env = worker_environment(environment, tmp_path, free_port()) | {"AIMS_SECRET_KEY": "k" * 48}
    api = subprocess.Popen([sys.executable, "-m", "aims.cli", "api", "--workers", "2", "--host", "127.0.0.1",
                            "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code:
                    break
            assert api.poll() is None and time.monotonic() < deadline, "aims api did not answer"
            time.sleep(0.2)
        api.kill()
        api.wait(timeout=30)
        wait_until_closed(port)
    finally:
        if api.poll() is None:
            api.kill()
            api.wait()


def _running(pid: int) -> bool:
    """Neither gone nor a zombie waiting for whoever adopted it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_until(process: subprocess.Popen[str], text: str, seconds: float = 90) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    while text not in (line := process.stdout.readline()):
        assert line and time.monotonic() < deadline, f"never printed {text!r}"


def test_a_worker_told_a_namespace_temporal_does_not_have_says_so_in_one_line(environment, tmp_path: Path):
    temporal_port = free_port()
    env = worker_environment(environment, tmp_path, temporal_port) | {"TEMPORAL_NAMESPACE": "no-such-namespace"}
    server = temporal_server(temporal_port)
    try:
        wait_for_port(temporal_port)
        result = subprocess.run([sys.executable, "-m", "aims.cli", "worker"], env=env, capture_output=True, text=True,
                                timeout=60)  # fmt: skip
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "has no namespace 'no-such-namespace': set TEMPORAL_NAMESPACE" in result.stderr


def worker_environment(environment: dict[str, str], tmp_path: Path, temporal_port: int) -> dict[str, str]:
    """What `aims worker` needs besides Temporal: keys and a migrated database."""
    new_signing_key(tmp_path / "signing.pem")
    env = environment | {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "AIMS_PAYLOAD_KEYS": new_key(),
        "AIMS_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"), "AIMS_LOG_FORMAT": "text",
    }  # fmt: skip
    assert aims("migrate", env=env).returncode == 0
    return env


def wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.2)


def temporal_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [binary("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(free_port()), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
