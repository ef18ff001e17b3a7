"""A small fake of the Slack Web API for tests: real HTTP, records calls, can fail on demand."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

JSON_FIELDS = ("blocks", "view", "metadata", "attachments")


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _as_dict(view: Any) -> dict[str, Any]:
    """slack-sdk sends `view` as JSON text in a form body, or as an object in a JSON body."""
    return json.loads(view) if isinstance(view, str) else dict(view)


class FakeSlack:
    DEFAULT_TOKEN = "xoxb-test-token"

    def __init__(self, token: str = DEFAULT_TOKEN, port: int = 0):
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, list[Failure]] = {}
        self.channel_failures: dict[tuple[str, str], Failure] = {}
        self.directory: dict[str, str] = {}  # email -> Slack user id
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages
        # (channel, ts) -> when (time.monotonic()) each chat.update landed, with its blocks
        self.updates: dict[tuple[str, str], list[tuple[float, list[dict[str, Any]]]]] = {}
        self.views: dict[str, dict[str, Any]] = {}  # view id -> the modal as last opened or updated
        self.homes: dict[str, dict[str, Any]] = {}  # Slack user id -> their App Home as last published
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """The next call of `method` answers this instead."""
        self.failures.setdefault(method, []).append(Failure(status, body, headers or {}))

    def fail_for(self, method: str, *, channel: str, body: dict[str, Any], status: int = 200) -> None:
        """Every call of `method` to `channel` (a Slack user id posts to their DM) answers this."""
        self.channel_failures[(method, channel)] = Failure(status, body)

    def called(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [args for name, args in self.calls if name == method]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.failures.clear()
            self.channel_failures.clear()
            self.messages.clear()
            self.updates.clear()
            self.views.clear()
            self.homes.clear()

    # ------------------------------------------------------------ the Web API

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "team_id": "T0FAKE"}
        if method == "users.lookupByEmail":
            user_id = self.directory.get(args.get("email", ""))
            return {"ok": True, "user": {"id": user_id}} if user_id else {"ok": False, "error": "users_not_found"}
        if method == "users.info":
            email = next((e for e, u in self.directory.items() if u == args.get("user")), None)
            if email is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "team_id": "T0FAKE", "profile": {"email": email}}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + args["users"]}}
        if method == "chat.postMessage":
            channel = args["channel"]
            channel = "D" + channel if channel.startswith("U") else channel
            message = {"ts": f"1700000000.{next(self._ts):06d}", "text": args.get("text"), **args}
            self.messages.setdefault(channel, []).append(message)
            return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}
        if method == "conversations.history":
            return {"ok": True, "messages": list(reversed(self.messages.get(args["channel"], [])))}
        if method == "chat.update":
            for message in self.messages.get(args["channel"], []):
                if message["ts"] == args["ts"]:
                    message.update(text=args.get("text"), blocks=args.get("blocks"))
                    self.updates.setdefault((args["channel"], args["ts"]), []).append(
                        (time.monotonic(), args.get("blocks") or [])
                    )
                    return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
            return {"ok": False, "error": "message_not_found"}
        if method == "views.open":
            view = _as_dict(args["view"]) | {"id": f"V{next(self._ts):06d}", "hash": "h1"}
            self.views[view["id"]] = view
            return {"ok": True, "view": view}
        if method == "views.update":
            if args.get("view_id") not in self.views:
                return {"ok": False, "error": "not_found"}
            view = _as_dict(args["view"]) | {"id": args["view_id"], "hash": f"h{next(self._ts)}"}
            self.views[args["view_id"]] = view
            return {"ok": True, "view": view}
        if method == "views.publish":
            self.homes[args["user_id"]] = _as_dict(args["view"])
            return {"ok": True, "view": self.homes[args["user_id"]]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000000.999999"}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept alive, as Slack's are (every answer has a length)

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/_records":  # for a fake running in its own process
                    with fake._lock:
                        records = {"messages": fake.messages, "calls": [name for name, _ in fake.calls],
                                   "updates": [[list(key), at, blocks] for key, updates in fake.updates.items()
                                               for at, blocks in updates]}  # fmt: skip
                    return self._send(200, records, {})
                self.do_POST()

            def do_POST(self) -> None:
                parsed = urlparse(self.path)
                method = parsed.path.removeprefix("/api/")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                args: dict[str, Any] = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    args.update(json.loads(raw))
                elif raw:
                    args.update({k: v[0] for k, v in parse_qs(raw).items()})
                for key in JSON_FIELDS:
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(200, {"ok": False, "error": "invalid_auth"}, {})
                with fake._lock:
                    fake.calls.append((method, args))
                    queued = fake.failures.get(method)
                    if queued:
                        failure = queued.pop(0)
                        return self._send(failure.status, failure.body, failure.headers)
                    persistent = fake.channel_failures.get((method, str(args.get("channel", ""))))
                    if persistent is not None:
                        return self._send(persistent.status, persistent.body, persistent.headers)
                    answer = fake._answer(method, args)
                self._send(200, answer, {})

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


class _Server(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: a burst of 50 connections (as from Slack's
    # side of a busy minute) had SYNs dropped and retried after 1 s and 3 s. Slack's API has no such limit.
    request_queue_size = 1024


if __name__ == "__main__":  # python -m tests.fake_slack PORT [email=USERID ...]: a fake of its own
    import sys

    server = FakeSlack(port=int(sys.argv[1]))
    server.directory.update(dict(pair.split("=", 1) for pair in sys.argv[2:]))
    print("ready", flush=True)
    server._server.serve_forever()
