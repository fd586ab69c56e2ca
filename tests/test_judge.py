"""Judging band messages: alarms are taken whatever their form; telemetry must be right."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.judge import AlarmMessage, Rejection, StatusMessage, TelemetryMessage, judge
from gateway.topics import TopicScheme
from registry.identifiers import is_valid_band_id

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


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("fall_cancel", {"fall_msg_id": "m-0"}),
        ("battery_low", {"battery": 9}),
        ("strap", {"state": "removed"}),
        ("location", {"lat": 51.1, "lon": 17.0, "accuracy_m": 20, "source": "cell", "reason": "locate"}),
        ("checkin", {}),
    ],
)
def test_every_report_kind_is_understood(kind: str, fields: dict[str, object]) -> None:
    verdict = judge(TOPICS, f"opaska/v1/bands/B1/up/{kind}", _payload(**fields), NOW)
    assert isinstance(verdict, TelemetryMessage), verdict
    assert verdict.kind == kind


def test_status_and_last_will() -> None:
    online = judge(TOPICS, "opaska/v1/bands/B1/status", b'{"v":1,"online":true}', NOW)
    assert isinstance(online, StatusMessage)
    assert (online.band, online.online) == ("B1", True)
    broken = judge(TOPICS, "opaska/v1/bands/B1/status", b'{"v":1}', NOW)
    assert isinstance(broken, Rejection)
    assert (broken.reason, broken.kind) == ("invalid", "status")


def test_alarm_naming_another_band_is_raised_and_flagged() -> None:
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/sos", _payload(band="B2"), NOW)
    assert isinstance(verdict, AlarmMessage)
    assert (verdict.band, verdict.names_other_band, verdict.malformed) == ("B1", "B2", True)
    # Naming its own band is fine, also as a number (bands keyed by IMEI).
    assert judge(TOPICS, "opaska/v1/bands/B1/up/sos", _payload(band="B1"), NOW).names_other_band is None  # type: ignore[union-attr]
    assert judge(TOPICS, "opaska/v1/bands/7/up/sos", _payload(band=7), NOW).names_other_band is None  # type: ignore[union-attr]
    # A report naming another band is refused.
    report = judge(TOPICS, "opaska/v1/bands/B1/up/heartbeat", _payload(battery=5, band="B2"), NOW)
    assert isinstance(report, Rejection)
    assert report.reason == "band_mismatch"


def test_deep_nesting_is_refused_before_anything_walks_it() -> None:
    deep = b'{"v":1,"msg_id":"x1","a":' + b"[" * 600 + b"]" * 600 + b"}"
    alarm = judge(TOPICS, "opaska/v1/bands/B1/up/sos", deep, NOW)
    assert isinstance(alarm, AlarmMessage)
    assert alarm.malformed
    assert "nested deeper" in alarm.problems[0]
    report = judge(TOPICS, "opaska/v1/bands/B1/up/heartbeat", deep, NOW)
    assert isinstance(report, Rejection)
    assert report.reason == "malformed"


@pytest.mark.parametrize("msg_id", [r"\ud800", r"a\u0000b", "a b", "x" * 65, ""])
def test_an_unusable_message_id_is_replaced_by_a_derived_one(msg_id: str) -> None:
    raw = ('{"v":1,"msg_id":"' + msg_id + '"}').encode()
    verdict = judge(TOPICS, "opaska/v1/bands/B1/up/sos", raw, NOW)
    assert isinstance(verdict, AlarmMessage)
    assert verdict.message_id.startswith("raw:")


def test_the_same_bytes_pressed_again_later_are_a_new_alarm() -> None:
    first = judge(TOPICS, "opaska/v1/bands/B1/up/sos", b"SOS", NOW)
    repeat = judge(TOPICS, "opaska/v1/bands/B1/up/sos", b"SOS", NOW + timedelta(seconds=30))
    later = judge(TOPICS, "opaska/v1/bands/B1/up/sos", b"SOS", NOW + timedelta(hours=2))
    assert isinstance(first, AlarmMessage)
    assert isinstance(repeat, AlarmMessage)
    assert isinstance(later, AlarmMessage)
    assert first.message_id == repeat.message_id != later.message_id


def test_oversized_alarm_is_taken_and_oversized_report_refused() -> None:
    big = _payload(pad="x" * 5000)
    alarm = judge(TOPICS, "opaska/v1/bands/B1/up/sos", big, NOW)
    assert isinstance(alarm, AlarmMessage)
    assert alarm.malformed
    report = judge(TOPICS, "opaska/v1/bands/B1/up/heartbeat", big, NOW)
    assert isinstance(report, Rejection)
    assert report.reason == "too_large"


@pytest.mark.parametrize("serial", ["", "a+b", "a#", "a/b", "a:b", "x" * 65, "tab\there"])
def test_band_ids_that_could_escape_their_topic_are_refused(serial: str) -> None:
    assert not is_valid_band_id(serial)
    verdict = judge(TOPICS, f"opaska/v1/bands/{serial}/up/heartbeat", _payload(battery=5), NOW)
    assert isinstance(verdict, Rejection)
    assert verdict.reason == "bad_topic"
