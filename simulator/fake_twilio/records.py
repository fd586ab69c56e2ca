"""What the fake Twilio remembers, and how it shows it: Twilio's own JSON shapes, so `twilio.rest` parses them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import format_datetime
from typing import Any

import phonenumbers

API_VERSION = "2010-04-01"

MESSAGE_STATUSES = frozenset(
    {"accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "receiving", "received"}
)
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
)
CALL_FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Twilio names a call's status-callback *events* differently from its statuses: "answered" is the event
# whose CallStatus is in-progress, and every final status arrives as the "completed" event.
CALL_EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"} | {
    status: "completed" for status in CALL_FINAL_STATUSES
}
# Twilio's error texts for the failures a sender can meet (https://www.twilio.com/docs/api/errors).
MESSAGE_ERROR_TEXT = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30008: "Unknown error",
}

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Alphanumeric sender ids: 1-11 characters, letters, digits and spaces, at least one letter.
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 lowercase hex digits (34 characters)."""
    return prefix + secrets.token_hex(16)


def is_e164(number: str) -> bool:
    """E.164 *and* a possible number for its country, as Twilio judges a `To` (else error 21211)."""
    if not _E164.match(number):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def is_sender(value: str) -> bool:
    return is_e164(value) or bool(_ALPHANUMERIC_SENDER.match(value))


def form_value(form: Mapping[str, list[str]], name: str) -> str:
    """The last value of `name` in a POSTed form ("" when absent): a repeated field counts once, as its last."""
    return form.get(name, [""])[-1]


def rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment.replace(microsecond=0))


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def parse_time_filter(value: str) -> datetime | date:
    """`DateSent>` / `StartTime>` values: the library sends `YYYY-MM-DDTHH:MM:SSZ`; people write `YYYY-MM-DD`."""
    if len(value) == 10:
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(value)
    return moment


@dataclass
class RecordedRequest:
    """One HTTP request to the REST API, as received (before auth, validation or faults)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    authorized: bool
    fault: str | None = None
    status: int | None = None

    def field(self, name: str) -> str | None:
        return next((value for key, value in reversed(self.form) if key == name), None)


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    status: str
    date_created: datetime
    direction: str = "outbound-api"
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    date_sent: datetime | None = None
    date_updated: datetime | None = None
    error_code: int | None = None
    form: dict[str, list[str]] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def listing_time(self) -> datetime:
        # Twilio sets date_sent when the message leaves; until then the fake files it under its creation
        # time, so a sender reconciling a lost response with `date_sent_after` finds a still-queued message.
        return whole_seconds(self.date_sent or self.date_created)

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated or self.date_created),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": MESSAGE_ERROR_TEXT.get(self.error_code or 0),
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(max(1, -(-len(self.body) // 153))),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": self.uri.removesuffix(".json") + "/Media.json"},
            "to": self.to,
            "uri": self.uri,
        }


@dataclass
class FakeCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    status: str
    date_created: datetime
    url: str | None = None
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    start_time: datetime | None = None
    end_time: datetime | None = None
    date_updated: datetime | None = None
    direction: str = "outbound-api"
    form: dict[str, list[str]] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    # The TwiML opaska last answered with (from Url, or a Gather action); `press` reads its <Gather>.
    last_twiml: str | None = None
    last_twiml_url: str | None = None
    digits: list[str] = field(default_factory=list)
    # Voice model: a <Dial>ed leg names the call that dialled it; `heard` is what the callee was played
    # ("say: …", "play: …", "pause: 2"), in order; `notifications` are Twilio's debugger errors for this call.
    parent_call_sid: str | None = None
    heard: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    modelled: bool = False
    # Status callbacks sent so far: Twilio's SequenceNumber counts them from 0.
    callbacks_sent: int = 0

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    @property
    def duration(self) -> int | None:
        if self.start_time is None or self.end_time is None:
            return None
        # Rounded, not truncated: voice time is virtual seconds on top of a wall clock that moves a little too.
        return round((self.end_time - self.start_time).total_seconds())

    def listing_time(self) -> datetime:
        return whole_seconds(self.start_time or self.date_created)

    def to_json(self) -> dict[str, Any]:
        base = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated or self.date_created),
            "direction": self.direction,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                "notifications": f"{base}/Notifications.json",
                "recordings": f"{base}/Recordings.json",
                "events": f"{base}/Events.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri,
        }


@dataclass
class CallbackResult:
    """One webhook the fake POSTed to opaska: the public URL it signed, where it really went, and the answer."""

    url: str
    target: str
    params: dict[str, str]
    signature: str | None
    status: int
    text: str


def move_to(record: FakeMessage | FakeCall, status: str, moment: datetime) -> None:
    """Move a message or call to `status` at `moment`, keeping the statuses it went through."""
    record.status = status
    record.statuses.append(status)
    record.date_updated = moment
