"""Is this request from Slack, for our app, in our workspace? Checked before anything else."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from slack_sdk.signature import SignatureVerifier


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def signed(secrets: tuple[str, ...], clock: Clock, raw: bytes, headers: Mapping[str, str]) -> bool:
    """One of the signing secrets (two during a rotation) signed these exact bytes within 5 minutes."""
    return any(SignatureVerifier(secret, clock=clock).is_valid_request(raw, dict(headers)) for secret in secrets)


def team_and_app(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Where an interaction or a command comes from: its workspace (team) and app ids."""
    team, user = payload.get("team"), payload.get("user")
    team_id = (
        (team.get("id") if isinstance(team, Mapping) else None)
        or payload.get("team_id")
        or (user.get("team_id") if isinstance(user, Mapping) else None)
    )
    return team_id, payload.get("api_app_id")


def ours(expected_team: str | None, expected_app: str | None, payload: Mapping[str, Any]) -> bool:
    team_id, app_id = team_and_app(payload)
    return (expected_team is None or team_id == expected_team) and (expected_app is None or app_id == expected_app)
