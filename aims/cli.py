"""`aims`: run everything locally (`aims dev`), or one part of a split deployment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
import socket
import subprocess
import sys
import time

from aims.domain.policy import ROLES
from aims.persistence import repository
from aims.persistence.db import migrate, transaction
from aims.settings import PolicyError, Settings, SettingsError, current_policy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aims", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="Temporal dev server + migrations + worker + API, all local")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000, help="API and web port (default 8000)")
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--temporal-ui-port", type=int, default=8233)

    commands.add_parser("worker", help="run a lifecycle worker against TEMPORAL_ADDRESS")
    api = commands.add_parser("api", help="serve the API against TEMPORAL_ADDRESS")
    api.add_argument("--host", default="0.0.0.0")
    api.add_argument("--port", type=int, default=8000)
    commands.add_parser("migrate", help="bring the database schema up to date")

    users = commands.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user; prints the API token on the last line")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", default=[], choices=ROLES, help="repeat for several roles")
    add.add_argument("--slack-id", default=None, help="Slack member id (U…)")
    users.add_parser("list", help="list users and their roles")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        current_policy()
    except (PolicyError, SettingsError) as error:
        print(f"aims: {error}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        migrate(settings.database_url)
        print(f"database {settings.database_url} is up to date")
    elif args.command == "users":
        return _users(args, settings)
    elif args.command == "worker":
        asyncio.run(_run_worker(settings))
    elif args.command == "api":
        _serve_api(settings, args.host, args.port)
    elif args.command == "dev":
        return _dev(args, settings)
    return 0


def _users(args: argparse.Namespace, settings: Settings) -> int:
    migrate(settings.database_url)
    with transaction(settings.database_url) as session:
        if args.users_command == "list":
            for user in repository.list_users(session):
                slack = f"  slack={user.slack_user_id}" if user.slack_user_id else ""
                print(f"{user.email}  {user.name}  roles={','.join(user.roles)}{slack}")
            return 0
        if repository.user_by_email(session, args.email) is not None:
            print(f"aims: a user {args.email} exists already", file=sys.stderr)
            return 1
        user, token = repository.add_user(
            session,
            email=args.email,
            name=args.name,
            roles=args.role,
            slack_user_id=args.slack_id,
            now=dt.datetime.now(dt.UTC),
        )
    print(f"added {user.email} with roles {', '.join(user.roles)}; API token:")
    print(token)
    return 0


async def _run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    from aims.runtime import connect, ensure_digest_schedule, lifecycle_worker, notifier_for

    client = await connect(settings.temporal_address, settings.temporal_namespace)
    stop = stop or _stop_on_signals()
    if settings.slack_enabled and settings.slack_channel:
        await ensure_digest_schedule(client, settings)
    worker = lifecycle_worker(
        client, settings.task_queue, settings.database_url, notifier_for(settings), settings=settings
    )
    async with worker:
        print(f"worker polling {settings.task_queue} on {settings.temporal_address}", flush=True)
        await stop.wait()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _serve_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from aims.runtime import binary

    # SIGTERM stops everything the way Ctrl-C does, including the Temporal server we started.
    signal.signal(signal.SIGTERM, _interrupt)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    address = f"127.0.0.1:{args.temporal_port}"
    settings = Settings(**{**settings.__dict__, "temporal_address": address})
    log = open(settings.data_dir / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(args.temporal_port),
            "--ui-port", str(args.temporal_ui_port),
            "--db-filename", str(settings.data_dir / "temporal.db"),
            "--log-level", "warn",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port("127.0.0.1", args.temporal_port, server)
        print(f"aims API and web UI:  http://{args.host}:{args.port}/  (OpenAPI: /docs)")
        print(f"Temporal Web UI:      http://127.0.0.1:{args.temporal_ui_port}/")
        print(f"state kept in {settings.data_dir} (database {settings.database_url}); Ctrl-C stops everything")
        asyncio.run(_dev_services(settings, args.host, args.port))
    except KeyboardInterrupt:
        print("stopping")
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
        if server.poll() is None:
            server.kill()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _dev_services(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app

    api = uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning"))
    stop = asyncio.Event()
    worker = asyncio.create_task(_run_worker(settings, stop))
    try:
        await api.serve()  # returns on Ctrl-C / SIGTERM
    finally:
        stop.set()
        await worker


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"aims: the Temporal dev server exited with {process.returncode}; see temporal.log")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise SystemExit(f"aims: the Temporal dev server did not listen on {host}:{port} within {timeout:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
