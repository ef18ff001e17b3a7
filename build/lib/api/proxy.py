"""Who the client is, and whether a proxy vouches for it: a request counts as coming through
a proxy only when its peer address is in AIMS_TRUSTED_PROXIES. Then the proxy's
X-Forwarded-For / X-Forwarded-Proto name the client and the scheme, and its e-mail header may
sign someone in; from any other peer those headers are ignored (uvicorn's own proxy-header
handling is off, so nothing else rewrites the peer)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

VIA_TRUSTED_PROXY = "via_trusted_proxy"


def trusted(host: str | None, proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        address = ip_address(host or "")
    except ValueError:
        return False
    return any(address in network for network in proxies)


class TrustedProxies:
    """Pure ASGI middleware: marks `request.state.via_trusted_proxy`, applies forwarded headers."""

    def __init__(self, app: Any, proxies: Sequence[IPv4Network | IPv6Network]):
        self.app = app
        self.proxies = tuple(proxies)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            via_proxy = peer is not None and trusted(peer[0], self.proxies)
            scope.setdefault("state", {})[VIA_TRUSTED_PROXY] = via_proxy
            if via_proxy:
                self._forwarded(scope)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: dict[str, Any]) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        # The client is the last hop that is not one of our proxies (the rest could be forged).
        client = next((hop for hop in reversed(hops) if not trusted(hop, self.proxies)), None)
        if client is not None:
            scope["client"] = (client, 0)
        proto = headers.get("x-forwarded-proto", "").strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
