"""Judging a band message: what it is, whether we take it, and why not. Plain code, no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from gateway.payloads import ALARM_KINDS, ALARM_MODELS, MAX_PAYLOAD_BYTES, TELEMETRY_MODELS
from gateway.topics import TopicScheme, is_valid_band_id

# A band clock further off than this is not believed; alarms are timed by receipt anyway.
CLOCK_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    band: str | None = None
    kind: str | None = None


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
    clock_suspect: bool


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


def _decode(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None, f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, f"not JSON: {str(exc)[:100]}"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    return data, None


def judge(
    topics: TopicScheme, topic: str, raw: bytes, received_at: datetime
) -> AlarmMessage | TelemetryMessage | Rejection:
    uplink = topics.parse_uplink(topic)
    if uplink is None:
        return Rejection("bad_topic", f"not a band uplink topic: {topic[:200]!r}")
    if not is_valid_band_id(uplink.band):
        return Rejection("bad_topic", f"band id not allowed: {uplink.band[:80]!r}")
    if uplink.kind in ALARM_KINDS:
        return _judge_alarm(uplink.band, uplink.kind, raw, received_at)
    model = TELEMETRY_MODELS.get(uplink.kind)
    if model is None:
        return Rejection("unknown_kind", f"unknown kind {uplink.kind[:40]!r}", uplink.band, uplink.kind)
    data, problem = _decode(raw)
    if data is None:
        return Rejection("malformed", problem or "", uplink.band, uplink.kind)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        return Rejection("invalid", _first_error(exc), uplink.band, uplink.kind)
    if abs(parsed.ts - received_at) > CLOCK_TOLERANCE:
        return Rejection("clock", f"band time {parsed.ts.isoformat()} too far from now", uplink.band, uplink.kind)
    fields = storable(parsed.model_dump(exclude={"v", "msg_id", "ts"}))
    return TelemetryMessage(uplink.band, uplink.kind, parsed.msg_id, parsed.ts, fields, clock_suspect=False)


def _judge_alarm(band: str, kind: str, raw: bytes, received_at: datetime) -> AlarmMessage:
    problems: list[str] = []
    data, problem = _decode(raw)
    if problem:
        problems.append(problem)
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
