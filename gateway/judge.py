"""Judging a band message: what it is, whether we take it, and why not. Plain code, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from gateway.payloads import (
    ALARM_KINDS,
    ALARM_MODELS,
    MAX_PAYLOAD_BYTES,
    MESSAGE_ID_PATTERN,
    TELEMETRY_MODELS,
    Status,
)
from gateway.topics import TopicScheme
from registry.identifiers import is_valid_band_id

# A band clock further off than this is not believed; alarms are timed by receipt anyway.
CLOCK_TOLERANCE = timedelta(minutes=10)
# JSON nested deeper than this is refused before anything walks it (deep nesting exhausts recursion).
MAX_DEPTH = 16
MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
# A derived message id (for an alarm without a usable one) is stable within this time, so the
# band's repeats merge, and new outside it, so the same bytes pressed again later raise again.
DERIVED_ID_WINDOW_S = 600


class Reason:
    """Why a band message was rejected: the `result` label is `rejected_<reason>`."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_KIND = "unknown_kind"
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"  # not JSON, or not a JSON object
    INVALID = "invalid"  # JSON that breaks the schema: a missing field, a wrong type, a bad value
    BAND_MISMATCH = "band_mismatch"  # the payload names another band than the topic
    CLOCK = "clock"  # the band's timestamp is too far from now
    UNKNOWN_BAND = "unknown_band"  # no such band is registered


ALL_REASONS = tuple(value for name, value in vars(Reason).items() if name.isupper())


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    band: str | None = None
    kind: str | None = None

    @property
    def band_was_heard(self) -> bool:
        """A message on a band's own topic shows the band is alive, even when its content is refused."""
        return self.band is not None and self.reason not in (Reason.BAD_TOPIC, Reason.BAND_MISMATCH)


@dataclass(frozen=True)
class AlarmMessage:
    """An alarm we take whatever its form: it comes from the band's own sos/fall topic."""

    band: str
    kind: str
    message_id: str
    band_time: datetime | None
    payload: dict[str, Any]
    malformed: bool
    clock_suspect: bool
    problems: list[str] = field(default_factory=list)
    # Set when the payload names another band than the topic: worth a security warning.
    names_other_band: str | None = None


@dataclass(frozen=True)
class TelemetryMessage:
    band: str
    kind: str
    message_id: str
    band_time: datetime
    fields: dict[str, Any]


@dataclass(frozen=True)
class StatusMessage:
    """The band's retained online/offline status (its last will says offline)."""

    band: str
    online: bool


# A NUL, or a surrogate code point (json.loads joins a pair into one character: any left is alone).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """The same JSON value without NUL characters and lone UTF-16 surrogates ("\\ud800" in the
    JSON), which PostgreSQL text and JSONB refuse: each becomes U+FFFD. A surrogate left in made
    every commit of the alarm lane's batch fail on PostgreSQL until the batch was split down to the
    one message, holding up every band's alarms meanwhile (tests/test_band_fuzz_mqtt.py)."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "payload"
    return f"{where}: {error['msg']}"


def _depth(value: Any) -> int:
    """How deeply containers nest, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _decode(raw: bytes) -> tuple[dict[str, Any] | None, Rejection | None]:
    """The payload as a JSON object, or why not (a Rejection without band and kind)."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None, Rejection(Reason.TOO_LARGE, f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, Rejection(Reason.MALFORMED, f"not JSON: {str(exc)[:100]}")
    if not isinstance(data, dict):
        return None, Rejection(Reason.MALFORMED, "not a JSON object")
    if _depth(data) > MAX_DEPTH:
        return None, Rejection(Reason.MALFORMED, f"JSON nested deeper than {MAX_DEPTH} levels")
    return data, None


def _other_band_named(data: dict[str, Any], band: str) -> str | None:
    """The band the payload names, if it names one other than the topic's."""
    named = data.get("band")
    if named is None or isinstance(named, bool):
        return None
    text = str(named) if isinstance(named, str | int) else repr(named)
    return None if text == band else text[:80]


def derived_message_id(raw: bytes, received_at: datetime) -> str:
    """An id for an alarm that brought none: the same bytes within the window are the same press."""
    bucket = int(received_at.timestamp()) // DERIVED_ID_WINDOW_S
    return f"raw:{hashlib.sha256(raw).hexdigest()[:32]}:{bucket}"


def minimal_alarm(band: str, kind: str, raw: bytes, received_at: datetime) -> AlarmMessage:
    """The alarm with nothing of its payload but its size: for when the payload cannot be stored."""
    return AlarmMessage(
        band=band,
        kind=kind,
        message_id=derived_message_id(raw, received_at),
        band_time=None,
        payload={"unstorable": True, "bytes": len(raw)},
        malformed=True,
        clock_suspect=True,
        problems=["payload could not be stored"],
    )


def judge(
    topics: TopicScheme, topic: str, raw: bytes, received_at: datetime
) -> AlarmMessage | TelemetryMessage | StatusMessage | Rejection:
    """What this message is, or why it is refused. Never raises, whatever the bytes."""
    band_topic = topics.parse_band_topic(topic)
    if band_topic is None:
        return Rejection(Reason.BAD_TOPIC, f"not a band topic: {topic[:200]!r}")
    band, kind = band_topic.band, band_topic.kind
    if not is_valid_band_id(band):
        return Rejection(Reason.BAD_TOPIC, f"band id not allowed: {band[:80]!r}")
    if band_topic.is_status:
        return _judge_status(band, raw)
    if kind in ALARM_KINDS:
        return _judge_alarm(band, kind, raw, received_at)
    model = TELEMETRY_MODELS.get(kind)
    if model is None:
        return Rejection(Reason.UNKNOWN_KIND, f"unknown kind {kind[:40]!r}", band, None)
    data, refused = _decode(raw)
    if data is None:
        assert refused is not None
        return replace(refused, band=band, kind=kind)
    other = _other_band_named(data, band)
    if other is not None:
        return Rejection(Reason.BAND_MISMATCH, f"payload names band {other!r}", band, kind)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        return Rejection(Reason.INVALID, _first_error(exc), band, kind)
    if abs(parsed.ts - received_at) > CLOCK_TOLERANCE:
        return Rejection(Reason.CLOCK, f"band time {parsed.ts.isoformat()} too far from now", band, kind)
    fields = storable(parsed.model_dump(mode="json", exclude={"v", "msg_id", "ts", "band"}))
    return TelemetryMessage(band, kind, parsed.msg_id, parsed.ts, fields)


def _judge_status(band: str, raw: bytes) -> StatusMessage | Rejection:
    data, refused = _decode(raw)
    if data is None:
        assert refused is not None
        return replace(refused, band=band, kind="status")
    try:
        return StatusMessage(band, Status.model_validate(data).online)
    except ValidationError as exc:
        return Rejection(Reason.INVALID, _first_error(exc), band, "status")


def _judge_alarm(band: str, kind: str, raw: bytes, received_at: datetime) -> AlarmMessage:
    problems: list[str] = []
    data, refused = _decode(raw)
    if refused is not None:
        problems.append(refused.detail)
    other = _other_band_named(data, band) if data is not None else None
    if other is not None:
        # Only this band may publish here (the broker's ACL), so the topic says who pressed. A
        # misconfigured band, or a hole in the ACL: either way the alarm is raised, flagged, and
        # the gateway logs a security warning; an SOS is never lost for its form.
        problems.append(f"payload names band {other!r}")
    message_id: str | None = None
    band_time: datetime | None = None
    payload: dict[str, Any] = data if data is not None else {"raw": raw[:512].decode("utf-8", "replace")}
    if data is not None:
        try:
            parsed = ALARM_MODELS[kind].model_validate(data)
            message_id, band_time = parsed.msg_id, parsed.ts
            payload = parsed.model_dump(mode="json")
        except ValidationError as exc:
            problems.append(_first_error(exc))
            candidate = data.get("msg_id")
            if isinstance(candidate, str) and MESSAGE_ID.fullmatch(candidate):
                message_id = candidate
    if message_id is None:
        message_id = derived_message_id(raw, received_at)
    clock_suspect = band_time is None or abs(band_time - received_at) > CLOCK_TOLERANCE
    return AlarmMessage(
        band=band,
        kind=kind,
        message_id=message_id,
        band_time=band_time,
        payload=storable(payload),
        malformed=bool(problems),
        clock_suspect=clock_suspect,
        problems=problems,
        names_other_band=other,
    )
