"""The cast: one user per role, created once per test session and committed."""

from __future__ import annotations

import datetime as dt

from aims.domain.state import Actor
from aims.persistence import users
from aims.persistence.db import transaction

ROLES = {
    "req@example.com": ["requester"],
    "owner@example.com": ["requester"],
    "risk@example.com": ["risk"],
    "privacy@example.com": ["privacy"],
    "security@example.com": ["security"],
    "legal@example.com": ["legal"],
    "exec@example.com": ["executive"],
    "aims@example.com": ["aims_owner"],
    "admin@example.com": ["admin"],
}


def actor(email: str) -> Actor:
    return Actor(email=email, roles=sorted(set(ROLES[email]) | {"requester"}))


REQ, OWNER = actor("req@example.com"), actor("owner@example.com")
RISK, PRIVACY, SECURITY = actor("risk@example.com"), actor("privacy@example.com"), actor("security@example.com")
LEGAL, EXEC, AIMS = actor("legal@example.com"), actor("exec@example.com"), actor("aims@example.com")


def seed(database_url: str) -> dict[str, str]:
    """Create the cast if missing, give everyone a fresh API token and the default notification
    settings (another module, the API fuzzing among them, may have changed them); returns
    email -> token."""
    tokens: dict[str, str] = {}
    with transaction(database_url) as session:
        for email, roles in ROLES.items():
            user = users.user_by_email(session, email)
            if user is None:
                _, tokens[email] = users.add_user(
                    session, email=email, name=email.split("@")[0].title(), roles=roles, slack_user_id=None,
                    now=dt.datetime.now(dt.UTC), by="tests",
                )
            else:
                tokens[email] = users.rotate_token(session, user, by="tests", now=dt.datetime.now(dt.UTC))
                users.set_listening(user, muted=[], daily_digest=False)
    return tokens
