"""Call recording under RODO: who may be recorded, what Twilio's recording callback leaves on the
alarm, and how a recording leaves the provider again (retention, erasure).

Recording is off unless the alarm's municipality is listed in [voice] record_municipalities, and
there only for a resident whose card records their consent (resident.call_recording_consent_at).
The timeline gets the recording's duration, never its URL: the audio stays at the provider and is
played only through the console's supervisor-only endpoint, each playback audited.

Deletion at the provider never blocks anything: a recording due for deletion (past retention, or
its resident erased) whose deletion fails stays due, and the sweep the engine runs tries again.
An erased resident's calls have their number blanked (`ERASED_NUMBER`): that blank marks their
recordings as due at once, so an erasure needs no telephone to be complete.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from prometheus_client import Counter, Histogram
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from alarm_center.voice.events import add_call_event
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.telephone import Telephone, TelephoneUnavailable
from core.clock import Clock
from core.poll import poll_forever
from core.settings import VoiceSettings
from registry.model import Municipality, Resident

log = logging.getLogger(__name__)

# An erased resident's calls keep their times and outcome, not the number (gdpr.erase_resident).
ERASED_NUMBER = ""
# How often the engine looks for recordings due for deletion. Retention is counted in days; the
# short period is for erasures whose deletion at the provider failed when they happened.
SWEEP_EVERY_S = 300.0
# Recordings per sweep transaction: deleting one is an HTTP round trip to the provider.
SWEEP_BATCH = 50

# no_consent: recorded where no consent holds now; duplicate: a second recording of one call.
DeleteWhy = Literal["retention", "erasure", "no_consent", "duplicate"]

RECORDINGS_DELETED = Counter(
    "opaska_call_recordings_deleted_total", "Call recordings deleted at the provider, by why", ["why"]
)
RECORDING_DELETE_FAILURES = Counter(
    "opaska_call_recording_delete_failures_total", "Deletions of a call recording at the provider that failed"
)
SWEEP_SECONDS = Histogram("opaska_call_recording_sweep_seconds", "One pass of the recording retention sweep")
SWEEP_FAILURES = Counter("opaska_call_recording_sweep_failures_total", "Recording sweep passes that failed")


async def recording_allowed(session: AsyncSession, *, alarm_id: int, voice: VoiceSettings) -> bool:
    """Whether a call about this alarm may be recorded: its municipality records calls
    ([voice] record_municipalities) and its resident's card records their consent. No resident
    (an unknown caller), no municipality, no consent: never."""
    if not voice.record_municipalities:
        return False
    found = (
        await session.execute(
            select(Municipality.code, Resident.call_recording_consent_at)
            .select_from(Alarm)
            .join(Municipality, Municipality.id == Alarm.municipality_id)
            .join(Resident, Resident.id == Alarm.resident_id)
            .where(Alarm.id == alarm_id)
        )
    ).one_or_none()
    if found is None:
        return False
    code, consent_at = found
    return code in voice.record_municipalities and consent_at is not None


async def municipality_records_calls(session: AsyncSession, *, municipality_id: int, voice: VoiceSettings) -> bool:
    """Whether calls are recorded in this municipality at all (consent is needed besides)."""
    code = await session.scalar(select(Municipality.code).where(Municipality.id == municipality_id))
    return code is not None and code in voice.record_municipalities


def consent_moment(signed_on: date | None, now: datetime) -> datetime:
    """When consent is recorded as given: now, or the day the resident signed (noon UTC, so the
    day reads the same in Poland) when the form was signed earlier."""
    if signed_on is None or signed_on == now.date():
        return now
    return datetime.combine(signed_on, time(12, 0), tzinfo=UTC)


async def call_by_sid(session: AsyncSession, call_sid: str) -> VoiceCall | None:
    """The call one of whose legs Twilio knows as `call_sid`."""
    if not call_sid:
        return None
    return (
        await session.execute(
            select(VoiceCall).where(or_(VoiceCall.operator_call_sid == call_sid, VoiceCall.far_call_sid == call_sid))
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class RecordingReport:
    """Twilio's RecordingStatusCallback, as read from its form."""

    call_sid: str
    recording_sid: str
    status: str
    duration_s: int | None


class CallbackOutcome:
    RECORDED = "recorded"
    REPLAYED = "replayed"  # this recording was recorded before: nothing changes
    IGNORED = "ignored"  # not a finished recording (in-progress, absent, failed)
    UNKNOWN = "unknown"  # no call of ours with that sid and id
    EXTRA = "extra"  # a second recording of a call that has one: deleted at once


@dataclass(frozen=True)
class CallbackResult:
    outcome: str
    call: VoiceCall | None = None
    # A recording to delete at the provider once this transaction commits (see `settle_callback`).
    delete_sid: str | None = None
    why: DeleteWhy | None = None


async def record_callback(
    session: AsyncSession, *, call_id: int, report: RecordingReport, voice: VoiceSettings, at: datetime
) -> CallbackResult:
    """Store a finished recording on its call, once: its sid and duration on the row, a "call"
    event {event: "recording", duration_s} on the timeline. A replay (the same RecordingSid)
    changes nothing. A recording nobody may keep (consent withdrawn, the municipality no longer
    recording, or a second recording of the same call) is marked to be deleted at once."""
    call = await call_by_sid(session, report.call_sid)
    if call is None or call.id != call_id:
        return CallbackResult(CallbackOutcome.UNKNOWN)
    if report.status != "completed" or not report.recording_sid:
        return CallbackResult(CallbackOutcome.IGNORED, call)
    if call.recording_sid == report.recording_sid:
        return CallbackResult(CallbackOutcome.REPLAYED, call)
    if call.recording_sid is not None:
        # The row holds one recording; a second one (both legs recorded) would never be swept.
        log.warning("call %d: a second recording %s is deleted at once", call.id, report.recording_sid)
        return CallbackResult(CallbackOutcome.EXTRA, call, delete_sid=report.recording_sid, why="duplicate")
    call.recording_sid = report.recording_sid
    call.recording_duration_s = report.duration_s
    call.updated_at = at
    await add_call_event(session, call, "recording", at=at, duration_s=report.duration_s)
    if not await recording_allowed(session, alarm_id=call.alarm_id, voice=voice):
        log.warning("call %d was recorded without a current consent: the recording is deleted at once", call.id)
        return CallbackResult(CallbackOutcome.RECORDED, call, delete_sid=report.recording_sid, why="no_consent")
    return CallbackResult(CallbackOutcome.RECORDED, call)


async def settle_callback(
    session_factory: async_sessionmaker[AsyncSession], telephone: Telephone, clock: Clock, result: CallbackResult
) -> None:
    """After `record_callback` committed: delete a recording it marked, best effort. A kept one's
    failure leaves it for the retention sweep; an extra one is only logged (it was never stored)."""
    if result.delete_sid is None or result.call is None or result.why is None:
        return
    if result.outcome == CallbackOutcome.EXTRA:
        try:
            await telephone.delete_recording(result.delete_sid)
        except Exception as exc:  # the provider's failure must not fail Twilio's callback
            RECORDING_DELETE_FAILURES.inc()
            log.warning("extra recording %s of call %d not deleted: %s", result.delete_sid, result.call.id, exc)
        else:
            RECORDINGS_DELETED.labels(result.why).inc()
        return
    async with session_factory() as session, session.begin():
        call = await session.get(VoiceCall, result.call.id)
        if call is not None:
            await delete_recording(session, telephone, call, why=result.why, at=clock.now())


async def delete_recording(
    session: AsyncSession, telephone: Telephone, call: VoiceCall, *, why: DeleteWhy, at: datetime
) -> str | None:
    """Delete the call's recording at the provider and record it (recording_deleted_at, a "call"
    event {event: "recording_deleted", why}). None when done; when the provider could not be
    reached, why not (its words), and nothing changed: the recording stays due, tried again."""
    if call.recording_sid is None or call.recording_deleted_at is not None:
        return None
    try:
        await telephone.delete_recording(call.recording_sid)
    except TelephoneUnavailable as exc:
        return _failed(call, why, str(exc))
    except Exception as exc:  # the provider's HTTP error or an unreachable host: the same, later
        return _failed(call, why, f"{type(exc).__name__}: {exc}"[:200])
    call.recording_deleted_at = at
    call.updated_at = at
    await add_call_event(session, call, "recording_deleted", at=at, why=why)
    RECORDINGS_DELETED.labels(why).inc()
    return None


def _failed(call: VoiceCall, why: DeleteWhy, error: str) -> str:
    RECORDING_DELETE_FAILURES.inc()
    log.warning("call %d: recording not deleted now (%s): %s; tried again later", call.id, why, error)
    return error


def _due(cutoff: datetime) -> ColumnElement[bool]:
    """Recordings to delete: kept past `cutoff`, or of an erased resident's call (any age)."""
    kept = and_(VoiceCall.recording_sid.is_not(None), VoiceCall.recording_deleted_at.is_(None))
    return and_(kept, or_(VoiceCall.created_at < cutoff, VoiceCall.number == ERASED_NUMBER))


@dataclass(frozen=True)
class SweepResult:
    deleted: int
    failed: int


async def sweep_recordings(
    session_factory: async_sessionmaker[AsyncSession],
    telephone: Telephone,
    clock: Clock,
    voice: VoiceSettings,
    *,
    batch: int = SWEEP_BATCH,
) -> SweepResult:
    """Delete every recording due: older than [voice] recording_retention_days, or of an erased
    resident's call. One transaction per batch; a batch where the provider failed ends the pass
    (the next pass tries again), so an unreachable provider is not hammered."""
    deleted = failed = 0
    while True:
        now = clock.now()
        cutoff = now - timedelta(days=voice.recording_retention_days)
        async with session_factory() as session, session.begin():
            calls = list(
                (
                    await session.execute(select(VoiceCall).where(_due(cutoff)).order_by(VoiceCall.id).limit(batch))
                ).scalars()
            )
            for call in calls:
                why: DeleteWhy = "erasure" if call.number == ERASED_NUMBER else "retention"
                if await delete_recording(session, telephone, call, why=why, at=now) is None:
                    deleted += 1
                else:
                    failed += 1
        if failed or len(calls) < batch:
            return SweepResult(deleted, failed)


async def delete_erased_recordings(
    session_factory: async_sessionmaker[AsyncSession], telephone: Telephone, clock: Clock, *, resident_id: int
) -> SweepResult:
    """After an erasure committed: delete the resident's recordings at the provider now. One the
    provider refuses stays due for the engine's sweep, with a "call" event {event:
    "recording_delete_pending", why: "erasure", error} saying why. Never raises: the erasure is
    done whatever happens here, and the sweep finishes what this could not."""
    deleted = failed = 0
    try:
        async with session_factory() as session, session.begin():
            now = clock.now()
            calls = (
                await session.execute(
                    select(VoiceCall)
                    .join(Alarm, Alarm.id == VoiceCall.alarm_id)
                    .where(Alarm.resident_id == resident_id, _due(now))
                    .order_by(VoiceCall.id)
                )
            ).scalars()
            for call in list(calls):
                error = await delete_recording(session, telephone, call, why="erasure", at=now)
                if error is None:
                    deleted += 1
                    continue
                failed += 1
                await add_call_event(session, call, "recording_delete_pending", at=now, why="erasure", error=error)
    except Exception:  # the database away after the erasure's commit: the sweep will find them
        log.exception("resident %d erased; their recordings are left to the recording sweep", resident_id)
        # Deleted at the provider or not, nothing was recorded: the sweep finds them all again.
        return SweepResult(0, max(failed + deleted, 1))
    return SweepResult(deleted, failed)


async def run_recording_sweep(
    voice: VoiceSettings,
    session_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    telephone: Telephone,
    *,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The engine's worker: sweep every SWEEP_EVERY_S until cancelled (a failed pass is retried);
    `on_stop` then closes the telephone's HTTP session."""

    async def one_pass() -> None:
        result = await sweep_recordings(session_factory, telephone, clock, voice)
        if result.deleted or result.failed:
            log.info("recording sweep: %d deleted, %d left for later", result.deleted, result.failed)

    try:
        await poll_forever(
            one_pass,
            every_s=SWEEP_EVERY_S,
            clock=clock,
            round_seconds=SWEEP_SECONDS,
            failures=SWEEP_FAILURES,
            log=log,
            what="recording sweep",
        )
    finally:
        if on_stop is not None:
            await on_stop()
