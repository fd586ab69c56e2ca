"""Where calls meet on the fake Twilio — conferences and queues — and the recordings calls leave, in Twilio's
JSON shapes so `twilio.rest` parses them."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.fake_twilio.records import API_VERSION, rfc2822


@dataclass
class FakeParticipant:
    call_sid: str
    number: str
    label: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    hold: bool = False
    # queued/connecting/ringing: a REST-added participant's phone is still ringing; connected: in; complete: left.
    status: str = "connected"
    joined_at: float | None = None
    date_created: datetime | None = None

    def to_json(self, conference: FakeConference) -> dict[str, Any]:
        return {
            "account_sid": conference.account_sid,
            "call_sid": self.call_sid,
            "call_sid_to_coach": None,
            "coaching": False,
            "conference_sid": conference.sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "end_conference_on_exit": self.end_conference_on_exit,
            "hold": self.hold,
            "label": self.label,
            "muted": self.muted,
            "queue_time": "0",
            "start_conference_on_enter": self.start_conference_on_enter,
            "status": self.status,
            "uri": f"{conference.uri.removesuffix('.json')}/Participants/{self.call_sid}.json",
        }


@dataclass
class FakeConference:
    sid: str
    account_sid: str
    friendly_name: str
    date_created: datetime
    status: str = "init"  # init → in-progress → completed, as Twilio's Conference resource
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset({"start", "end"})
    participants: list[FakeParticipant] = field(default_factory=list)  # those in it (or ringing into it) now
    left: list[FakeParticipant] = field(default_factory=list)  # everyone who has left, oldest first
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    date_updated: datetime | None = None
    sequence: int = 0

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Conferences/{self.sid}.json"

    @property
    def call_sids(self) -> list[str]:
        """The calls connected to it now, in the order they joined."""
        return [p.call_sid for p in self.participants if p.status == "connected"]

    @property
    def numbers(self) -> list[str]:
        """The phone numbers connected to it now (the far end of each call), in the order they joined."""
        return [p.number for p in self.participants if p.status == "connected"]

    def participant(self, call_sid: str) -> FakeParticipant | None:
        return next((p for p in self.participants if p.call_sid == call_sid), None)

    def to_json(self) -> dict[str, Any]:
        base = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid_ending_conference": self.call_sid_ending,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated or self.date_created),
            "friendly_name": self.friendly_name,
            "reason_conference_ended": self.reason_ended,
            "region": "us1",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "participants": f"{base}/Participants.json",
                "recordings": f"{base}/Recordings.json",
            },
            "uri": self.uri,
        }


@dataclass
class QueueMember:
    call_sid: str
    number: str
    enqueued_at: float  # voice-clock seconds
    date_enqueued: datetime
    left_at: float | None = None  # when a <Dial><Queue> took it


@dataclass
class FakeQueue:
    sid: str
    account_sid: str
    friendly_name: str
    date_created: datetime
    members: list[QueueMember] = field(default_factory=list)  # first in, first out
    max_size: int = 100
    waits: list[float] = field(default_factory=list)  # how long each member that left had waited

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Queues/{self.sid}.json"

    @property
    def call_sids(self) -> list[str]:
        return [m.call_sid for m in self.members]

    def average_wait(self) -> int:
        return round(sum(self.waits) / len(self.waits)) if self.waits else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "average_wait_time": self.average_wait(),
            "current_size": len(self.members),
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "friendly_name": self.friendly_name,
            "max_size": self.max_size,
            "sid": self.sid,
            "subresource_uris": {"members": self.uri.removesuffix(".json") + "/Members.json"},
            "uri": self.uri,
        }

    def member_json(self, member: QueueMember, now: float) -> dict[str, Any]:
        return {
            "call_sid": member.call_sid,
            "date_enqueued": rfc2822(member.date_enqueued),
            "position": self.members.index(member) + 1,
            "queue_sid": self.sid,
            "uri": f"{self.uri.removesuffix('.json')}/Members/{member.call_sid}.json",
            "wait_time": round(now - member.enqueued_at),
        }


@dataclass
class FakeRecording:
    sid: str
    account_sid: str
    call_sid: str
    date_created: datetime
    start_time: datetime
    duration: int
    source: str  # OutboundAPI, DialVerb, StartConferenceAPI…
    channels: int = 1
    conference_sid: str | None = None
    status: str = "completed"
    deleted: bool = False

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": self.call_sid,
            "channels": self.channels,
            "conference_sid": self.conference_sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "duration": str(self.duration),
            "encryption_details": None,
            "error_code": None,
            "media_url": f"https://api.twilio.com{self.uri.removesuffix('.json')}",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "source": self.source,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                "add_on_results": self.uri.removesuffix(".json") + "/AddOnResults.json",
                "transcriptions": self.uri.removesuffix(".json") + "/Transcriptions.json",
            },
            "uri": self.uri,
        }


def silent_wav(seconds: float = 0.1) -> bytes:
    """A small, valid WAV file of silence: what a fake recording's media holds (8 kHz mono, as Twilio's)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return buffer.getvalue()


# An MP3 frame header (MPEG-1 Layer III, 32 kbit/s, 8 kHz is not MPEG-1: 32 kHz) and a silent frame's padding;
# enough for a player to recognise the type, which is all a test of "can it fetch the media" needs.
SILENT_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x10\x00" + b"\x00" * 100
