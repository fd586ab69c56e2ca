"""Judging a band message: what it is, whether we take it, and why not. Plain code, no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from gateway.payloads import ALARM_KINDS, ALARM_MODELS, MAX_PAYLOAD_BYTES, TELEMETRY_MODELS, Status
from gateway.topics import TopicScheme, is_valid_band_id

# A band clock further off than this is not believed; alarms are timed by receipt anyway.
CLOCK_TOLERANCE = timedelta(minutes=10)


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


def storable(value: Any) -> Any:
    """The same JSON value without NUL characters, which PostgreSQL text and JSONB refuse."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "payload"
    return f"{where}: {error['msg']}"


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
    return data, None


def _names_other_band(data: dict[str, Any], band: str) -> bool:
    named = data.get("band")
    return named is not None and named != band


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
    if _names_other_band(data, band):
        return Rejection(Reason.BAND_MISMATCH, f"payload names band {str(data['band'])[:80]!r}", band, kind)
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


def _judge_alarm(band: str, kind: str, raw: bytes, received_at: datetime) -> AlarmMessage | Rejection:
    problems: list[str] = []
    data, refused = _decode(raw)
    if refused is not None:
        problems.append(refused.detail)
    if data is not None and _names_other_band(data, band):
        # The broker's ACL lets only this band publish here, so this is a misconfigured band or a
        # hole in the ACL: refuse it loudly rather than raise an alarm for the wrong resident.
        return Rejection(Reason.BAND_MISMATCH, f"payload names band {str(data['band'])[:80]!r}", band, kind)
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
            if isinstance(candidate, str) and 0 < len(candidate) <= 64:
                message_id = candidate
    if message_id is None:
        # Same bytes repeated by the band are the same alarm: derive a stable id from them.
        message_id = "raw:" + hashlib.sha256(raw).hexdigest()[:32]
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
    )
