"""Browser security headers on every answer of the console, pages, API, static files and errors alike.

- Content-Security-Policy: scripts, styles, fonts and media from the console itself only (no inline
  script or style anywhere in the templates; Leaflet sets styles through the DOM, which CSP allows);
  images from the console, data: URLs and the configured map tiles' origin; connections to the
  console and its own WebSocket; no plugins, no <base>, forms post only to the console; and no
  framing (with X-Frame-Options for older browsers), so an operator cannot be click-jacked into
  closing an alarm.
- X-Content-Type-Options: nosniff.
- Referrer-Policy: no-referrer, except pages showing the map (the tile server asks for the
  origin of the site using it: strict-origin-when-cross-origin sends the origin, never the path).
  The responder's and the relatives' status pages set no-referrer themselves: their URL is the key.
- Cache-Control: no-store on everything but static files, unless the route said otherwise: the
  API and the pages carry residents' personal and medical data, which no browser or proxy may keep.
- Strict-Transport-Security only on answers to requests that came over https (directly or through
  a trusted proxy, console/forwarded.py): over plain http it would mean nothing, and on a lab
  console it would lock the browser out of plain http on that host for a year.

A header the route set itself is kept; the rest are added.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.forwarded import is_https

HSTS = "max-age=31536000"
MAP_PAGE_REFERRER = "strict-origin-when-cross-origin"
# The console's pages that show the Leaflet map (console/templates using static/map.js).
_MAP_PAGES = re.compile(r"^/(alarms/[^/]+|registry/(bands|residents)/[^/]+)/?$")
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def tiles_source(map_tiles_url: str) -> str | None:
    """The CSP source that admits the tile template's images: its origin, with {s} (Leaflet's
    subdomains) as the leftmost wildcard CSP allows; only the scheme when a placeholder sits
    anywhere else in the host. None without tiles."""
    if not map_tiles_url:
        return None
    parts = urlsplit(map_tiles_url.replace("{s}", "*"))
    host = parts.netloc
    if "{" in host or ("*" in host and not (host.startswith("*.") and "*" not in host[2:])):
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{host}"


def content_security_policy(map_tiles_url: str) -> str:
    """The policy without connect-src, which names the request's own host (see below)."""
    images = " ".join(filter(None, ("'self'", "data:", tiles_source(map_tiles_url))))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "font-src 'self'",
            "media-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _connect_src(scope: Scope) -> str:
    # 'self' covers the same-origin WebSocket in CSP3 browsers; the explicit ws(s):// source
    # keeps /ws/live working in those that do not read it so.
    host = Headers(scope=scope).get("host", "")
    if not _HOST.match(host):
        return "connect-src 'self'"
    return f"connect-src 'self' {'wss' if is_https(scope) else 'ws'}://{host}"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, map_tiles_url: str) -> None:
        self.app = app
        self.policy = content_security_policy(map_tiles_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = f"{self.policy}; {_connect_src(scope)}"
        referrer = MAP_PAGE_REFERRER if _MAP_PAGES.match(path) else "no-referrer"
        static = path.startswith("/static/")
        https = is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", referrer)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
