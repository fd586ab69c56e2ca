"""SMS and voice calls through Twilio, with the official async client.

Twilio's create calls take no idempotency key, so a request whose answer never came (a timeout, a
cut connection, a 5xx after the request went out) may have sent an SMS. Such a send is reconciled
before anything is sent again: the messages or calls to that number since the attempt started are
listed, and the outbox decides which one we do not know yet is ours (see outbox.py). Two settings
of the library matter for this: `max_retries` stays off (aiohttp_retry re-POSTs on any 5xx, a
second SMS), and every request is bounded by `asyncio.timeout` (the async client ignores its own
`timeout`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]  # no py.typed
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from alarm_center.notify.model import Channel
from alarm_center.notify.notifier import OutcomeUnknown, OutgoingMessage, PermanentFailure, Sent, same_text

# Call progress we want to hear about: "answered" tells a picked-up call from one still ringing.
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Clocks differ between us and Twilio, and Twilio's times are whole seconds: look a little earlier
# than the attempt started. A message of another notification is excluded by its known sid.
RECONCILE_SLACK = timedelta(seconds=120)
RECONCILE_LIMIT = 50


class TransientFailure(Exception):
    """Nothing was sent (429, or the request never reached Twilio); retry later."""


def status_url(public_url: str, notification_id: int) -> str:
    return f"{public_url.rstrip('/')}/twilio/status/{notification_id}"


def voice_url(public_url: str, notification_id: int) -> str:
    return f"{public_url.rstrip('/')}/twilio/voice/{notification_id}"


class TwilioNotifier:
    """A `Notifier` for Twilio. `client` is a `twilio.rest.Client` with an `AsyncTwilioHttpClient`."""

    def __init__(self, client: Any, *, from_number: str, public_url: str, timeout_s: float = 10.0) -> None:
        self._client = client
        self._from = from_number
        self._public_url = public_url.rstrip("/")
        self._timeout = timeout_s

    @classmethod
    def create(
        cls,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        public_url: str,
        api_base_url: str = "",
        timeout_s: float = 10.0,
    ) -> TwilioNotifier:
        """A notifier with its own HTTP client; call inside the running event loop, `aclose()` at the end."""
        # max_retries=None: no aiohttp_retry wrapper, so a 5xx is never re-POSTed behind our back.
        http = AsyncTwilioHttpClient(max_retries=None)
        # environment={}: TWILIO_REGION/TWILIO_EDGE would rewrite the API host.
        client = Client(account_sid, auth_token, http_client=http, environment={})
        if api_base_url:
            client.api.base_url = api_base_url.rstrip("/")
        return cls(client, from_number=from_number, public_url=public_url, timeout_s=timeout_s)

    async def aclose(self) -> None:
        http = self._client.http_client
        if isinstance(http, AsyncTwilioHttpClient):
            await http.close()

    async def send(self, message: OutgoingMessage) -> Sent:
        try:
            async with asyncio.timeout(self._timeout):
                if message.channel == Channel.VOICE:
                    created = await self._client.calls.create_async(
                        to=message.to_phone,
                        from_=self._from,
                        url=voice_url(self._public_url, message.notification_id),
                        method="POST",
                        status_callback=status_url(self._public_url, message.notification_id),
                        status_callback_method="POST",
                        status_callback_event=CALL_EVENTS,
                    )
                else:
                    created = await self._client.messages.create_async(
                        to=message.to_phone,
                        from_=self._from,
                        body=message.body,
                        status_callback=status_url(self._public_url, message.notification_id),
                    )
            # The create's own status ("queued"): Twilio calls back only for the changes after it.
            return Sent(str(created.sid), provider_status=str(created.status) if created.status else None)
        except TwilioRestException as exc:
            status = int(exc.status or 0)
            if status in (429, 503):
                # Too many requests / unavailable: Twilio turned the request away, nothing was made.
                raise TransientFailure(f"Twilio {status} (code {exc.code}): try again later") from None
            if 400 <= status < 500:
                raise PermanentFailure(f"Twilio {status} (code {exc.code}): {exc.msg}") from None
            reason = f"Twilio {status} (code {exc.code})"
        except TimeoutError:
            reason = f"no answer from Twilio within {self._timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: nothing reached Twilio.
            raise TransientFailure(f"cannot reach Twilio: {exc}") from None
        except aiohttp.ClientError as exc:
            reason = f"connection to Twilio lost: {type(exc).__name__}"
        # The request may have gone out: the outbox reconciles it before anything is sent again.
        raise OutcomeUnknown(reason)

    async def find_sent(self, message: OutgoingMessage, *, since: datetime, known: set[str]) -> list[str]:
        earliest = since - RECONCILE_SLACK
        try:
            async with asyncio.timeout(self._timeout):
                if message.channel == Channel.VOICE:
                    records = await self._client.calls.list_async(
                        to=message.to_phone, from_=self._from, limit=RECONCILE_LIMIT
                    )
                else:
                    records = await self._client.messages.list_async(
                        to=message.to_phone, from_=self._from, limit=RECONCILE_LIMIT
                    )
        except (TwilioRestException, TimeoutError, aiohttp.ClientError) as exc:
            raise OutcomeUnknown(f"cannot list what was sent to reconcile: {type(exc).__name__} {exc}") from None
        matches = [
            record
            for record in records
            if record.sid not in known
            and record.date_created is not None
            and record.date_created >= earliest
            and (message.channel == Channel.VOICE or same_text(record.body or "", message.body))
        ]
        # Twilio lists newest first, in whole seconds; the sid breaks a tie the same way every time.
        matches.sort(key=lambda record: (record.date_created, record.sid))
        return [str(record.sid) for record in matches]
