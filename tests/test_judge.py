"""Judging band messages: alarms are taken whatever their form; telemetry must be right."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.judge import AlarmMessage, Rejection, TelemetryMessage, judge
from gateway.topics import TopicScheme

TOPICS = TopicScheme("opaska/v1")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _payload(**fields: object) -> bytes:
    return json.dumps({"v": 1, "msg_id": "m-1", "ts": NOW.isoformat(), **fields}).encode()


def test_good_sos() -> None:
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/sos", _payload(), NOW)
    assert isinstance(verdict, AlarmMessage)
    assert (verdict.band, verdict.kind, verdict.message_id) == ("B1", "sos", "m-1")
    assert not verdict.malformed
    assert not verdict.clock_suspect


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[1,2]", b"{not json", b'{"v": 2}', b"x" * 10_000])
def test_malformed_alarm_is_still_an_alarm(raw: bytes) -> None:
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/fall", raw, NOW)
    assert isinstance(verdict, AlarmMessage)
    assert verdict.malformed
    assert verdict.clock_suspect
    assert verdict.message_id.startswith("raw:")
    # The same bytes repeated are recognised as the same message.
    again = judge(TOPICS, "opaska/v1/bands/B1/up/fall", raw, NOW)
    assert isinstance(again, AlarmMessage)
    assert again.message_id == verdict.message_id


def test_alarm_with_wrong_clock_is_taken_and_flagged() -> None:
    raw = json.dumps({"v": 1, "msg_id": "m-9", "ts": "2000-01-01T00:00:00Z"}).encode()
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/sos", raw, NOW)
    assert isinstance(verdict, AlarmMessage)
    assert verdict.clock_suspect
    assert not verdict.malformed
    assert verdict.message_id == "m-9"


def test_alarm_with_bad_field_keeps_its_message_id() -> None:
    raw = json.dumps({"v": 1, "msg_id": "m-3", "ts": NOW.isoformat(), "confidence": 7}).encode()
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/fall", raw, NOW)
    assert isinstance(verdict, AlarmMessage)
    assert verdict.malformed
    assert verdict.message_id == "m-3"
    assert "confidence" in verdict.problems[0]


def test_good_heartbeat() -> None:
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/heartbeat", _payload(battery=80, worn=True), NOW)
    assert isinstance(verdict, TelemetryMessage)
    assert verdict.fields["battery"] == 80


@pytest.mark.parametrize(
    ("topic", "raw", "reason"),
    [
        ("opaska/v1/bands/B1/up/heartbeat", b"{", "malformed"),
        ("opaska/v1/bands/B1/up/heartbeat", _payload(battery=101), "invalid"),
        ("opaska/v1/bands/B1/up/heartbeat", _payload(), "invalid"),
        ("opaska/v1/bands/B1/up/teleport", _payload(), "unknown_kind"),
        ("opaska/v1/bands/B1/down/sos", _payload(), "bad_topic"),
        ("elsewhere/B1", _payload(), "bad_topic"),
    ],
)
def test_telemetry_rejections_have_reasons(topic: str, raw: bytes, reason: str) -> None:
    verdict = judge(TOPICS, topic, raw, NOW)
    assert isinstance(verdict, Rejection)
    assert verdict.reason == reason


def test_heartbeat_from_far_future_rejected() -> None:
    raw = json.dumps({"v": 1, "msg_id": "m", "ts": (NOW + timedelta(days=2)).isoformat(), "battery": 5}).encode()
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/heartbeat", raw, NOW)
    assert isinstance(verdict, Rejection)
    assert verdict.reason == "clock"


def test_nul_characters_never_reach_the_database() -> None:
    raw = json.dumps({"v": 1, "msg_id": "m-1", "ts": NOW.isoformat(), "note\u0000": ["a\u0000b"]}).encode()
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/sos", raw, NOW)
    assert isinstance(verdict, AlarmMessage)
    assert "\x00" not in json.dumps(verdict.payload, ensure_ascii=False)
    garbage = judge(TOPICS, "opaska/v1/bands/B1/up/sos", b"\x00\x00", NOW)
    assert isinstance(garbage, AlarmMessage)
    assert "\x00" not in json.dumps(garbage.payload, ensure_ascii=False)
