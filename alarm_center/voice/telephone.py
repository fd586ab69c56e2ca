"""The telephone as the alarm center sees it: place a call whose TwiML and status callbacks come
back to opaska, hang one up, and reach a call's recording. Twilio is one adapter
(twilio_telephone.py); `OfflineTelephone` is the other, for a centre with no Twilio (test mode),
where every call is refused at once with words an operator can act on (dial by hand)."""

from __future__ import annotations

from typing import Protocol


class TelephoneUnavailable(Exception):
    """No call can be placed now (test mode, Twilio unreachable or refusing): say so at once, in
    Polish, so the operator dials the number by hand."""


class Telephone(Protocol):
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
        """Ring `to` (E.164 or a "sip:" address) from the centre's number; when answered, Twilio
        fetches `twiml_url`; every leg's progress is POSTed to `status_url`. The call's sid."""
        ...

    async def hang_up(self, call_sid: str) -> None:
        """End the call (no error if it has ended already)."""
        ...

    async def recording_audio(self, recording_sid: str) -> bytes:
        """The recording's audio (for a supervisor's playback)."""
        ...

    async def delete_recording(self, recording_sid: str) -> None:
        """Delete the recording at the provider (no error if it is gone already)."""
        ...


TEST_MODE_REFUSAL = "tryb próbny: połączenia nie są wykonywane (brak konfiguracji Twilio) — zadzwoń ręcznie"


class OfflineTelephone:
    """A centre with no Twilio: nothing is dialled; the operator is told at once."""

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
        raise TelephoneUnavailable(TEST_MODE_REFUSAL)

    async def hang_up(self, call_sid: str) -> None:
        raise TelephoneUnavailable(TEST_MODE_REFUSAL)

    async def recording_audio(self, recording_sid: str) -> bytes:
        raise TelephoneUnavailable(TEST_MODE_REFUSAL)

    async def delete_recording(self, recording_sid: str) -> None:
        raise TelephoneUnavailable(TEST_MODE_REFUSAL)
