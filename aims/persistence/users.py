"""Users, their roles, API tokens and web sessions: accounts with a lifecycle.

A token is stored only as a hash; it may expire; it can be revoked or rotated. A deactivated
user (a leaver) signs in nowhere, is prompted for nothing and decides nothing. Every change to
a user, a role or a token is appended to the `system` audit chain with who made it. Web
sessions are rows: signing out, a revoked or rotated token and deactivation end them.
Callers own the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, or_, select, update
from sqlalchemy.orm import Session, joinedload

from aims.domain.durations import Duration
from aims.persistence import chains
from aims.persistence.db import add_once
from aims.persistence.models import User, UserRole, WebSession

SESSION_LIFETIME = dt.timedelta(hours=12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


# ------------------------------------------------------------ changes (each one audited)


def add_user(
    session: Session,
    *,
    email: str,
    name: str,
    roles: Sequence[str],
    slack_user_id: str | None,
    now: dt.datetime,
    by: str,
    expires: Duration | None = None,
) -> tuple[User, str]:
    """Create a user; returns it with its API token, which is stored only as a hash."""
    user, token = _new_user(email, name, roles, slack_user_id, now, expires)
    session.add(user)
    session.flush()
    _record_added(session, user, by, now)
    return user, token


@dataclass(frozen=True)
class Added:
    user: User
    token: str
    repeat: bool  # the same send again: the person it added, with a new token


def add_user_once(
    session: Session, *, email: str, name: str, roles: Sequence[str], now: dt.datetime, by: str,
    expires: Duration | None, request_key: str,
) -> Added:  # fmt: skip
    """Add a user from an admin's form send. The same send again (a double click, the browser
    sending it again) finds the person it added and gives them a new token: a browser shows only
    the last answer, so the token the first send made was never seen, and the one shown works."""
    existing = user_by_email(session, email)
    if existing is None:
        user, token = _new_user(email, name, roles, None, now, expires, request_key)
        existing = add_once(session, user, lambda: user_by_email(session, email))
        if existing is user:
            _record_added(session, user, by, now)
            return Added(user, token, repeat=False)
    if existing.request_key != request_key or not existing.active:
        raise ValueError(f"{existing.email} is a user already")
    return Added(existing, rotate_token(session, existing, by=by, now=now, expires=expires), repeat=True)


def _new_user(
    email: str, name: str, roles: Sequence[str], slack_user_id: str | None, now: dt.datetime,
    expires: Duration | None, request_key: str | None = None,
) -> tuple[User, str]:  # fmt: skip
    user = User(email=normalise_email(email), name=name.strip(), slack_user_id=slack_user_id, created_at=now,
                request_key=request_key)  # fmt: skip
    _set_role_rows(user, roles)
    return user, _new_token(user, now, expires)


def _record_added(session: Session, user: User, by: str, now: dt.datetime) -> None:
    _record(session, "user_added", by, now, user, roles=user.roles, slack_user_id=user.slack_user_id,
            token_expires_at=_iso(user.token_expires_at))  # fmt: skip


def set_roles(session: Session, user: User, roles: Iterable[str], *, by: str, now: dt.datetime) -> None:
    """Everyone is a requester; the other roles are as given. The roles it has already (the same
    form sent twice) are no change, and nothing is recorded."""
    before = user.roles
    if _roles_held(roles) == before:
        return
    _set_role_rows(user, roles)
    session.flush()
    _record(session, "roles_set", by, now, user, roles_before=before, roles=user.roles)


def rotate_token(session: Session, user: User, *, by: str, now: dt.datetime, expires: Duration | None = None) -> str:
    """A new API token; the old one stops working and the user's web sessions end."""
    token = _new_token(user, now, expires)
    _end_sessions(session, user, now)
    _record(session, "token_rotated", by, now, user, token_expires_at=_iso(user.token_expires_at))
    return token


def revoke_token(session: Session, user: User, *, by: str, now: dt.datetime) -> None:
    """No token works any more (until one is rotated in); the user's web sessions end. Revoked
    already (sent twice) with no session since, nothing changes and nothing is recorded."""
    ended = _end_sessions(session, user, now)
    if not ended and user.token_expires_at is not None and user.token_expires_at <= now:
        return
    _new_token(user, now, None)  # a token nobody was given
    user.token_expires_at = now
    _record(session, "token_revoked", by, now, user)


def deactivate(session: Session, user: User, *, by: str, now: dt.datetime) -> None:
    """A leaver: no token, no session, no prompt, no decision. Their history stays. A leaver
    already (sent twice) is left as they are, with the date they left."""
    if not user.active:
        return
    user.active = False
    user.deactivated_at = now
    _new_token(user, now, None)
    user.token_expires_at = now
    _end_sessions(session, user, now)
    _record(session, "user_deactivated", by, now, user)


def bind_slack_id(session: Session, user: User, slack_user_id: str, *, by: str, now: dt.datetime) -> None:
    user.slack_user_id = slack_user_id
    _record(session, "slack_id_bound", by, now, user, slack_user_id=slack_user_id)


class RoleError(ValueError):
    pass


def _set_role_rows(user: User, roles: Iterable[str]) -> None:
    wanted = _roles_held(roles)
    user.role_rows = [row for row in user.role_rows if row.role in wanted] + [
        UserRole(role=role) for role in wanted if role not in user.roles
    ]


def _roles_held(roles: Iterable[str]) -> list[str]:
    """Everyone is a requester, except an auditor: that account reads everything and does nothing."""
    wanted = sorted(set(roles) | {"requester"})
    if "auditor" in wanted:
        if set(wanted) - {"auditor", "requester"}:
            raise RoleError("an auditor account holds no other role (it reads everything and acts on nothing)")
        wanted = ["auditor"]
    return wanted


def _new_token(user: User, now: dt.datetime, expires: Duration | None) -> str:
    token = "aims_" + secrets.token_urlsafe(32)
    user.token_hash = hash_token(token)
    user.token_expires_at = expires.after(now) if expires else None
    return token


def _record(session: Session, kind: str, by: str, now: dt.datetime, user: User, **data: Any) -> None:
    event = chains.NewEvent(type=kind, actor=by, at=now, version=0, data={"email": user.email, **data})
    chains.append(session, chains.SYSTEM_CHAIN, [event], now)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


# ------------------------------------------------------------ who is asking


def authenticate(session: Session, token: str, now: dt.datetime) -> User | None:
    """The active user whose unexpired API token this is."""
    user = _asking(session, _BY_TOKEN_HASH, hash_token(token))
    if user is None or (user.token_expires_at is not None and user.token_expires_at <= now):
        return None
    return user


def token_status(user: User, now: dt.datetime) -> str:
    """Whether the person's API token works, as the users page and `aims users list` say it."""
    if user.token_expires_at is None:
        return "no expiry"
    at = f"{user.token_expires_at:%Y-%m-%d %H:%M} UTC"
    return f"expires {at}" if user.token_expires_at > now else f"no working token since {at} (revoked or expired)"


def nobody_yet(session: Session) -> bool:
    """A new installation: no user at all, so nobody can sign in until one is made."""
    return session.connection().execute(select(_USERS.c.id).limit(1)).first() is None


def user_by_email(session: Session, email: str) -> User | None:
    """Any user, active or not (administration)."""
    return _one(session, select(User).where(User.email == normalise_email(email)))


def active_user_by_email(session: Session, email: str) -> User | None:
    return _one(session, select(User).where(User.email == normalise_email(email), User.active.is_(True)))


def is_active(session: Session, email: str) -> bool:
    """Whether an active user has this e-mail (every intake names its business owner)."""
    return session.connection().execute(_ACTIVE_EMAIL, {"email": normalise_email(email)}).first() is not None


def user_by_slack_id(session: Session, slack_user_id: str) -> User | None:
    return _asking(session, _BY_SLACK_ID, slack_user_id)


def _one(session: Session, query: Select[tuple[User]]) -> User | None:
    """A user with their roles in one query (every request and click starts with one)."""
    return session.scalars(query.options(joinedload(User.role_rows))).unique().one_or_none()


_USERS, _ROLES = User.__table__, UserRole.__table__
_ACTIVE_WITH_ROLES = (
    select(_USERS, _ROLES.c.role).outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id).where(_USERS.c.active.is_(True))
)
_BY_TOKEN_HASH = _ACTIVE_WITH_ROLES.where(_USERS.c.token_hash == bindparam("key"))
_BY_SLACK_ID = _ACTIVE_WITH_ROLES.where(_USERS.c.slack_user_id == bindparam("key"))
_ACTIVE_EMAIL = select(_USERS.c.id).where(_USERS.c.email == bindparam("email"), _USERS.c.active.is_(True))


def _asking(session: Session, statement: Select[Any], key: str) -> User | None:
    """The active user behind a request or a click, to read (not to change): every request and
    click starts with one, so a Core statement, built once, and a User that no session tracks."""
    rows = session.connection().execute(statement, {"key": key}).all()
    if not rows:
        return None
    columns = {name: value for name, value in rows[0]._mapping.items() if name != "role"}
    return User(**columns, role_rows=[UserRole(user_id=columns["id"], role=row.role) for row in rows if row.role])


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def holders_of(session: Session, roles: Iterable[str]) -> dict[str, set[str]]:
    """role -> the e-mails of the active users who hold it, in one query."""
    wanted = list(set(roles))
    holders: dict[str, set[str]] = {role: set() for role in wanted}
    if wanted:
        for role, email in session.execute(_HOLDERS, {"roles": wanted}):
            holders[role].add(email)
    return holders


_HOLDERS = (
    select(UserRole.role, User.email)
    .join(User, UserRole.user_id == User.id)
    .where(UserRole.role.in_(bindparam("roles", expanding=True)), User.active.is_(True))
)
# Built once: most transitions notify someone.
_AUDIENCE = (
    select(_USERS.c.email, _USERS.c.muted_channels, _USERS.c.daily_digest, _ROLES.c.role)
    .select_from(
        _USERS.outerjoin(
            _ROLES,
            (_ROLES.c.user_id == _USERS.c.id) & _ROLES.c.role.in_(bindparam("roles", expanding=True)),
        )
    )
    .where(
        _USERS.c.active.is_(True),
        or_(_USERS.c.email.in_(bindparam("emails", expanding=True)), _ROLES.c.role.is_not(None)),
    )
)


@dataclass(frozen=True)
class Listening:
    """How an active person hears from aims: the channels they muted, and whether notices
    wait for their daily digest."""

    muted: frozenset[str]
    daily_digest: bool


@dataclass(frozen=True)
class Audience:
    """The active users who hold some of the roles or have some of the e-mails: who holds
    which role, and how each of them hears from aims."""

    holders: dict[str, set[str]]
    listening: dict[str, Listening]


def audience(session: Session, roles: Iterable[str], emails: Iterable[str]) -> Audience:
    """In one query: most transitions notify someone."""
    wanted_roles, wanted_emails = sorted(set(roles)), sorted({normalise_email(email) for email in emails})
    holders: dict[str, set[str]] = {role: set() for role in wanted_roles}
    listening: dict[str, Listening] = {}
    if wanted_roles or wanted_emails:
        rows = session.connection().execute(_AUDIENCE, {"roles": wanted_roles, "emails": wanted_emails})
        for email, muted, digest, role in rows:
            listening[email] = Listening(frozenset(muted or ()), bool(digest))
            if role is not None:
                holders[role].add(email)
    return Audience(holders, listening)


def set_listening(user: User, *, muted: Iterable[str], daily_digest: bool) -> None:
    user.muted_channels = sorted(set(muted))
    user.daily_digest = daily_digest


def known_emails(session: Session, emails: Iterable[str]) -> set[str]:
    """Those of `emails` that belong to active users."""
    wanted = list({normalise_email(email) for email in emails})
    if not wanted:
        return set()
    return set(session.scalars(select(User.email).where(User.email.in_(wanted), User.active.is_(True))))


def inactive_emails(session: Session, emails: Iterable[str]) -> set[str]:
    wanted = list({normalise_email(email) for email in emails})
    if not wanted:
        return set()
    return set(session.scalars(select(User.email).where(User.email.in_(wanted), User.active.is_(False))))


# ------------------------------------------------------------ web sessions


def start_session(session: Session, user: User, now: dt.datetime) -> str:
    """A new web session; returns the cookie's value (only its hash is stored)."""
    cookie = secrets.token_urlsafe(32)
    session.add(
        WebSession(id_hash=hash_token(cookie), user_id=user.id, csrf=secrets.token_urlsafe(24), created_at=now,
                   expires_at=now + SESSION_LIFETIME)  # fmt: skip
    )
    return cookie


def session_of(session: Session, cookie: str, now: dt.datetime) -> tuple[User, str] | None:
    """The active user of a live session, with its CSRF token."""
    row = session.get(WebSession, hash_token(cookie))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row.csrf


def end_session(session: Session, cookie: str, now: dt.datetime) -> None:
    row = session.get(WebSession, hash_token(cookie))
    if row is not None and row.ended_at is None:
        row.ended_at = now


def _end_sessions(session: Session, user: User, now: dt.datetime) -> int:
    """How many were live."""
    result = session.execute(
        update(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None)).values(ended_at=now)
    )
    return result.rowcount
