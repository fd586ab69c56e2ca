"""Reverse proxies the console believes: `[console] trusted_proxies`.

A request from one of those addresses is taken as the proxy describes it: the client's address
from X-Forwarded-For, the scheme from X-Forwarded-Proto, the host from X-Forwarded-Host. From any
other address those headers are ignored, so nobody can claim another address (and so slip the
login throttle) or claim https. This middleware is the only place that reads them: uvicorn's own
proxy_headers is switched off where the console server is built (opaska/platform.py), so the
login throttle, the Secure cookie, HSTS and the WebSocket origin check all follow one rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# host or host:port, IPv6 in brackets; anything else in X-Forwarded-Host is not believed.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(host: str, networks: tuple[Network, ...]) -> bool:
    address = _address(host)
    return address is not None and any(address in network for network in networks)


def _last(value: str) -> str:
    return value.split(",")[-1].strip()


def forwarded_client(peer: str, forwarded_for: str, networks: tuple[Network, ...]) -> str:
    """The client's address: walking X-Forwarded-For from the right (the hop nearest to us),
    the first address that is not a trusted proxy. A hop that is not an address ends the walk
    at the last proxy, which is then the client as far as we can know."""
    client = peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if _address(hop) is None:
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return client


def is_https(scope: Scope) -> bool:
    """Whether the request came over TLS: to us directly, or to a trusted proxy (once this
    middleware has run)."""
    return scope.get("scheme") in ("https", "wss")


class TrustedProxies:
    """Rewrites the scope's client, scheme and Host header for requests from trusted proxies."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            peer = scope.get("client")
            if peer is not None and _trusted(peer[0], self.networks):
                scope = self._as_forwarded(scope, peer)
        await self.app(scope, receive, send)

    def _as_forwarded(self, scope: Scope, peer: tuple[str, int]) -> Scope:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
                # Repeated headers are one list, as HTTP says.
                text = value.decode("latin-1")
                headers[name] = f"{headers[name]},{text}" if name in headers else text
        scope = dict(scope)
        if b"x-forwarded-for" in headers:
            scope["client"] = (forwarded_client(peer[0], headers[b"x-forwarded-for"], self.networks), 0)
        proto = _last(headers.get(b"x-forwarded-proto", "")).lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
        host = _last(headers.get(b"x-forwarded-host", ""))
        if host and _HOST.match(host):
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"] + [(b"host", host.encode())]
        return scope
