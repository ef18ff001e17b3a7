"""The web session's cookies and CSRF tokens. The session itself is a row
(`aims.persistence.users`); the cookie holds only its random id."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.responses import Response

from aims.persistence.users import SESSION_LIFETIME

COOKIE = "aims_session"
# Before there is a session, the sign-in form is protected by a double-submit token.
SIGN_IN_COOKIE = "aims_sign_in"


def secure_cookies(public_url: str) -> bool:
    """Secure cookies everywhere but plain-http localhost (where a browser would drop them)."""
    return not public_url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))


def set_session_cookie(response: Response, value: str, public_url: str) -> None:
    response.set_cookie(
        COOKIE, value, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True, samesite="lax",
        secure=secure_cookies(public_url),
    )  # fmt: skip


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def set_sign_in_cookie(response: Response, token: str, public_url: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=secure_cookies(public_url)
    )


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def csrf_for_header_user(key: str, email: str) -> str:
    """Behind a trusted proxy there is no cookie session: derive a stable per-user CSRF token."""
    return signature(key, "csrf", email)


def signature(key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the secret key, for one purpose (a CSRF token, a message)."""
    return hmac.new(key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
