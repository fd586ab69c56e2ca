"""A fake Twilio server for tests and local demos; see `server.FakeTwilio`."""

from simulator.fake_twilio.config import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_NUMBER,
    AutoPlay,
    CallScript,
    VoiceNumber,
)
from simulator.fake_twilio.errors import CallbackRefused, TwilioError
from simulator.fake_twilio.faults import Fault
from simulator.fake_twilio.phone import Phone, ReceivedSms, RingingCall
from simulator.fake_twilio.records import CallbackResult, FakeCall, FakeMessage, RecordedRequest
from simulator.fake_twilio.rooms import FakeConference, FakeParticipant, FakeQueue, FakeRecording, QueueMember
from simulator.fake_twilio.server import FakeTwilio
from simulator.fake_twilio.voice import gather_action

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_NUMBER",
    "AutoPlay",
    "CallScript",
    "CallbackRefused",
    "CallbackResult",
    "FakeCall",
    "FakeConference",
    "FakeMessage",
    "FakeParticipant",
    "FakeQueue",
    "FakeRecording",
    "FakeTwilio",
    "Fault",
    "Phone",
    "QueueMember",
    "ReceivedSms",
    "RecordedRequest",
    "RingingCall",
    "TwilioError",
    "VoiceNumber",
    "gather_action",
]
