"""Signed webhook delivery: POSTs to opaska signed exactly as Twilio signs them, and only to this machine."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # no py.typed

from simulator.fake_twilio.config import FakeConfig
from simulator.fake_twilio.errors import CallbackRefused
from simulator.fake_twilio.records import CallbackResult, new_sid
from simulator.fake_twilio.store import Store


class WebhookSender:
    """Signs over the public URL opaska validates against, delivers to where `url_map` says opaska listens."""

    def __init__(self, config: FakeConfig, store: Store) -> None:
        self._config = config
        self._store = store
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.callback_timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post_signed(
        self, url: str, params: Mapping[str, str], *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult:
        """POST `params` as a form to `url`, signed as Twilio signs: HMAC-SHA1 (auth token) over the URL and the
        sorted POST parameters, base64, in `X-Twilio-Signature`. `sign_with` signs with another token (a forgery);
        `signed=False` sends no signature at all."""
        token = self._config.auth_token if sign_with is None else sign_with
        signature = RequestValidator(token).compute_signature(url, dict(params)) if signed else None
        target = self._route(url)
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": new_sid("")}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        assert self._session is not None, "start() the fake first"
        async with self._session.post(target, data=dict(params), headers=headers) as response:
            result = CallbackResult(url, target, dict(params), signature, response.status, await response.text())
        self._store.callbacks.append(result)
        self._store.touch()
        return result

    def _route(self, url: str) -> str:
        target = url
        for public, local in self._config.url_map.items():
            if url.startswith(public):
                target = local + url[len(public) :]
                break
        host = urlsplit(target).hostname or ""
        if not self._config.allow_remote_callbacks and not _is_loopback(host):
            raise CallbackRefused(f"{target} is not on this machine; map it with url_map")
        return target


class EventSource:
    """A part of the fake that changes what the store holds and tells opaska so by signed webhooks."""

    def __init__(self, config: FakeConfig, store: Store, webhooks: WebhookSender) -> None:
        self._config = config
        self._store = store
        self._webhooks = webhooks


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL, as Twilio requires of StatusCallback and Url."""
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
