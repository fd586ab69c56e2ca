"""The `Telephone` port on Twilio, with the official async client (as twilio_notifier.py builds it).

A call is created with our number as caller ID, the TwiML and status-callback URLs opaska gives,
and every progress event (initiated, ringing, answered, completed) POSTed back signed. Nothing is
retried here: a call placed twice rings a resident twice, so a failure is said to the operator at
once (in Polish, `TelephoneUnavailable`) and they decide, with the number shown to dial by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException  # type: ignore[import-untyped]
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from alarm_center.voice.telephone import TelephoneUnavailable
from core.settings import Settings

# Every leg's progress: "answered" is what starts the bridge to the far end.
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def _unreachable(what: str) -> TelephoneUnavailable:
    return TelephoneUnavailable(f"centrala telefoniczna (Twilio) niedostępna: {what} — zadzwoń ręcznie")


class TwilioTelephone:
    """`client` is a `twilio.rest.Client` with an `AsyncTwilioHttpClient` (max_retries off: a 5xx
    must never be re-POSTed behind our back, it could ring someone twice)."""

    def __init__(self, client: Any, *, from_number: str, timeout_s: float = 10.0) -> None:
        self._client = client
        self._from = from_number
        self._timeout = timeout_s

    @classmethod
    def create(
        cls, *, account_sid: str, auth_token: str, from_number: str, api_base_url: str = "", timeout_s: float = 10.0
    ) -> TwilioTelephone:
        """A telephone with its own HTTP session; call inside the running event loop, `aclose()` at the end."""
        http = AsyncTwilioHttpClient(max_retries=None)
        # environment={}: TWILIO_REGION/TWILIO_EDGE would rewrite the API host.
        client = Client(account_sid, auth_token, http_client=http, environment={})
        if api_base_url:
            client.api.base_url = api_base_url.rstrip("/")
        return cls(client, from_number=from_number, timeout_s=timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioTelephone | None:
        """The centre's telephone when [notify] mode is "twilio" with everything it needs; else None
        (the console keeps its OfflineTelephone: test mode, every call refused at once)."""
        twilio = settings.twilio
        if settings.notify.mode != "twilio" or twilio.missing():
            return None
        return cls.create(
            account_sid=twilio.account_sid,
            auth_token=twilio.auth_token.get_secret_value(),
            from_number=twilio.from_number,
            api_base_url=twilio.api_base_url,
            timeout_s=twilio.timeout_s,
        )

    async def aclose(self) -> None:
        http = self._client.http_client
        if isinstance(http, AsyncTwilioHttpClient):
            await http.close()

    async def call(
        self,
        *,
        to: str,
        twiml_url: str,
        status_url: str,
        timeout_s: int,
        record: bool = False,
        recording_status_url: str | None = None,
    ) -> str:
        options: dict[str, Any] = {}
        if record:
            options["record"] = True
            if recording_status_url:
                options["recording_status_callback"] = recording_status_url
                options["recording_status_callback_method"] = "POST"
        created = await self._request(
            self._client.calls.create_async(
                to=to,
                from_=self._from,
                url=twiml_url,
                method="POST",
                status_callback=status_url,
                status_callback_method="POST",
                status_callback_event=CALL_EVENTS,
                timeout=timeout_s,
                **options,
            ),
            "połączenie nie zostało nawiązane",
        )
        return str(created.sid)

    async def hang_up(self, call_sid: str) -> None:
        ending = self._client.calls(call_sid).update_async(status="completed")
        await self._request(ending, "nie rozłączono", gone_ok=True)

    async def recording_audio(self, recording_sid: str) -> bytes:
        # The library reads every answer as text; audio is bytes, so it is fetched on the library's session.
        base = f"{self._client.api.base_url}/2010-04-01/Accounts/{self._client.account_sid}"
        return bytes(await self._request(self._fetch(f"{base}/Recordings/{recording_sid}.wav"), "nagranie niedostępne"))

    async def _fetch(self, url: str) -> bytes:
        username, password = self._client.auth
        session: aiohttp.ClientSession = self._client.http_client.session
        async with session.get(url, auth=aiohttp.BasicAuth(username, password)) as response:
            if response.status != 200:
                raise TwilioRestException(response.status, url, msg="recording fetch failed")
            return await response.read()

    async def delete_recording(self, recording_sid: str) -> None:
        await self._request(self._client.recordings(recording_sid).delete_async(), "nagranie nieusunięte", gone_ok=True)

    async def _request(self, request: Any, failed: str, *, gone_ok: bool = False) -> Any:
        """Await one request to Twilio within the timeout; any failure is `TelephoneUnavailable` (a
        404 is no failure where the thing being gone is what we wanted)."""
        try:
            async with asyncio.timeout(self._timeout):
                return await request
        except TwilioRestException as exc:
            # 404: no such call or recording; 21220: the call is over already.
            if gone_ok and (exc.status == 404 or exc.code == 21220):
                return None
            raise _unreachable(f"{failed} (Twilio {exc.status}, kod {exc.code})") from None
        except TimeoutError:
            raise _unreachable(f"{failed} (brak odpowiedzi w {self._timeout:g} s)") from None
        except aiohttp.ClientError as exc:
            raise _unreachable(f"{failed} (brak połączenia: {type(exc).__name__})") from None
        except TwilioException as exc:
            raise _unreachable(f"{failed} ({exc})") from None
