"""A relative's status link: a signed, expiring URL in the alert SMS that shows, without a login,
where the alarm stands (taken in, an operator on it, someone going, closed).

The token names the alarm and the contact and when it expires, signed with HMAC-SHA256 under
`[notify] status_link_secret`; it is unguessable and cannot be altered to show another alarm. The
page shows only what the SMS itself says, plus the alarm's state: never an address or a surname.
With no secret or no public URL configured, no link is sent. The entry point builds the links once
from the settings (`StatusLinks.from_settings`) and hands them to the engine and the console.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.settings import Settings

PATH = "/s/"
# A responder's link (alarm_center.alarms.responder_visit): the address, the way in and the
# key-safe code for whoever goes. Signed for that purpose only: a relative's status token is
# refused there, and a responder's token shows nothing more on the status page.
RESPONDER_PATH = "/r/"
_RESPONDER = b"responder:"
_SIGNATURE_BYTES = 16  # 128 bits: plenty against guessing, and short enough for an SMS


class LinkInvalid(Exception):
    """Not a token we signed (altered, truncated, or signed under another secret)."""


class LinkExpired(Exception):
    """Ours, but past its time."""


@dataclass(frozen=True)
class Subject:
    alarm_id: int
    contact_id: int | None


@dataclass(frozen=True)
class StatusLinks:
    secret: bytes
    base_url: str
    valid_for: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> StatusLinks | None:
        """The links `[notify] status_link_secret` and the public URL give; None (no link) without either."""
        secret = settings.notify.status_link_secret.get_secret_value()
        base_url = settings.twilio.public_url
        if not secret or not base_url:
            return None
        return cls(secret.encode(), base_url.rstrip("/"), timedelta(hours=settings.notify.status_link_hours))

    def url(self, *, alarm_id: int, contact_id: int | None, raised_at: datetime) -> str:
        """The link for one contact about one alarm, working until `valid_for` after it was raised."""
        token = self.token(alarm_id=alarm_id, contact_id=contact_id, expires=raised_at + self.valid_for)
        return f"{self.base_url}{PATH}{token}"

    def responder_url(self, *, alarm_id: int, contact_id: int | None, raised_at: datetime) -> str:
        """The responder's link for one contact (None: a responder who is not a contact) and alarm.
        It shows the door's details only while the alarm is open (the page checks)."""
        token = self.token(
            alarm_id=alarm_id, contact_id=contact_id, expires=raised_at + self.valid_for, purpose=_RESPONDER
        )
        return f"{self.base_url}{RESPONDER_PATH}{token}"

    def token(self, *, alarm_id: int, contact_id: int | None, expires: datetime, purpose: bytes = b"") -> str:
        payload = f"{alarm_id}.{contact_id or 0}.{int(expires.timestamp())}".encode()
        return f"{_b64(payload)}.{_b64(self._sign(purpose + payload))}"

    def read_responder(self, token: str, *, now: datetime) -> Subject:
        """What a responder's token names; LinkInvalid (a status token among others) or LinkExpired."""
        return self.read(token, now=now, purpose=_RESPONDER)

    def read(self, token: str, *, now: datetime, purpose: bytes = b"") -> Subject:
        """The alarm and contact a token names; LinkInvalid or LinkExpired otherwise."""
        try:
            encoded_payload, encoded_signature = token.split(".")
            payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
            alarm, contact, expires = (int(part) for part in payload.decode("ascii").split("."))
        except (ValueError, UnicodeDecodeError):
            raise LinkInvalid("not a status link") from None
        if not hmac.compare_digest(signature, self._sign(purpose + payload)):
            raise LinkInvalid("not a status link")
        if now >= datetime.fromtimestamp(expires, UTC):
            raise LinkExpired(f"expired at {datetime.fromtimestamp(expires, UTC).isoformat()}")
        return Subject(alarm, contact or None)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
