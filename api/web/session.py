"""Signed session cookies and CSRF tokens for the web pages (HMAC-SHA256 with AIMS_SECRET_KEY)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

COOKIE = "aims_session"
MAX_AGE = 12 * 3600


def _sign(key: str, data: bytes) -> str:
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()


def issue(key: str, email: str) -> str:
    body = json.dumps({"email": email, "csrf": secrets.token_urlsafe(24), "exp": int(time.time()) + MAX_AGE})
    encoded = base64.urlsafe_b64encode(body.encode()).decode()
    return f"{encoded}.{_sign(key, encoded.encode())}"


def read(key: str, cookie: str | None) -> dict[str, Any] | None:
    """The session in a cookie, or None when it is missing, forged or expired."""
    if not cookie or "." not in cookie:
        return None
    encoded, signature = cookie.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(key, encoded.encode())):
        return None
    try:
        session = json.loads(base64.urlsafe_b64decode(encoded.encode()))
    except ValueError:
        return None
    return session if session.get("exp", 0) > time.time() else None


def csrf_for_header_user(key: str, email: str) -> str:
    """Behind a trusted proxy there is no cookie session: derive a stable per-user CSRF token."""
    return _sign(key, f"csrf:{email}".encode())
