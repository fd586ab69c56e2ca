"""Hostile input to the two parsers that read what strangers send: the band payload judge and the
relatives' SMS replies. Thousands of generated inputs each: nothing raises, an alarm topic always
yields an alarm (never thrown away for its form), and what is read back is within its bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alarm_center.notify.service import Answer, parse_reply
from gateway.judge import AlarmMessage, Rejection, StatusMessage, TelemetryMessage, judge
from gateway.payloads import ALARM_KINDS, TELEMETRY_MODELS
from gateway.topics import TopicScheme
from registry.identifiers import is_valid_band_id

# No database, no broker: the same on every stack.
pytestmark = pytest.mark.stack_independent

TOPICS = TopicScheme("opaska/v1")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MANY = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The judge's inputs are costlier to generate (nested JSON); still thousands.
MANY_PAYLOADS = settings(MANY, max_examples=2000)

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
)
FIELDS = st.sampled_from(["v", "msg_id", "ts", "band", "kind", "battery_pct", "confidence", "lat", "lon", "worn", "x"])


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Raw bytes, broken JSON, or JSON objects close to the real shapes with odd values."""
    shape = draw(st.sampled_from(["bytes", "json", "near"]))
    if shape == "bytes":
        return draw(st.binary(max_size=600))
    if shape == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    near: dict[str, Any] = {"v": 1, "msg_id": "m-1", "ts": (NOW - timedelta(seconds=5)).isoformat()}
    near.update(draw(st.dictionaries(FIELDS, JSON_VALUES, max_size=6)))
    return json.dumps(near).encode()


KINDS = sorted(ALARM_KINDS | set(TELEMETRY_MODELS) | {"fall_cancel", "status", "nonsense"})


@MANY_PAYLOADS
@given(kind=st.sampled_from(KINDS), band=st.text(max_size=20), raw=payloads())
def test_the_judge_never_raises_and_never_drops_an_alarm(kind: str, band: str, raw: bytes) -> None:
    topic = f"opaska/v1/bands/{band}/status" if kind == "status" else f"opaska/v1/bands/{band}/up/{kind}"
    verdict = judge(TOPICS, topic, raw, NOW)
    assert isinstance(verdict, AlarmMessage | TelemetryMessage | StatusMessage | Rejection)
    if kind in ALARM_KINDS and isinstance(verdict, AlarmMessage):
        assert verdict.kind == kind
        assert 0 < len(verdict.message_id) <= 128
    if kind in ALARM_KINDS and TOPICS.parse_band_topic(topic) is not None and is_valid_band_id(band):
        # A well-formed alarm topic of a possible band: whatever the payload, it is an alarm.
        assert isinstance(verdict, AlarmMessage), verdict


@MANY
@given(body=st.text(max_size=200))
def test_any_sms_reply_is_read_without_raising(body: str) -> None:
    reply = parse_reply(body)
    assert reply.answer is None or isinstance(reply.answer, Answer)
    assert reply.alarm_id is None or 0 < reply.alarm_id < 10**12


@MANY
@given(
    word=st.sampled_from(["TAK", "tak", "Ok", "1", "NIE", "nie", "2", "jadę"]),
    code=st.integers(min_value=1, max_value=10**9),
    noise=st.sampled_from(["", " ", "  ", ", ", ". ", "!", "\n"]),
    code_first=st.booleans(),
)
def test_an_answer_with_its_code_is_read_whatever_the_order(word: str, code: int, noise: str, code_first: bool) -> None:
    """Found by this test: "2 TAK" (alarm 2, going) was read as "cannot" with no code. A digit
    answer comes first ("1 57"), as the SMS asks; only a word may follow the code."""
    code_first = code_first and not word.isdigit()
    body = f"{code}{noise or ' '}{word}" if code_first else f"{word}{noise or ' '}{code}{noise}"
    reply = parse_reply(body)
    expected = Answer.CANNOT if word.upper() in ("NIE", "2") else Answer.GOING
    assert (reply.answer, reply.alarm_id) == (expected, code)
