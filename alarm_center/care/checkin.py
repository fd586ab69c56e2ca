"""The daily check-in: a resident with a window (e.g. 8:00–10:00, the municipality's local time)
is expected to press "I am fine" on the band in it; a window that ends without one raises a
`no_checkin` alarm, once per window, escalated by its own policy (a call-back first, a relative
later).

Nothing is kept in memory: each pass judges from the database (the window, the band's last
check-in, the alarms already raised), so a restarted or a second engine carries on where the last
stopped. A window that ended while the engine was down is still judged, for the rest of that day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.metrics import ALARMS_RAISED
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmKind, AlarmStatus
from alarm_center.care import metrics
from alarm_center.escalation import service as escalation
from alarm_center.escalation.policy import PolicyBook, PolicySource
from core.clock import Clock
from core.db.after_commit import after_commit
from core.poll import poll_forever
from core.settings import Settings
from registry.model import Band, BandStatus, Municipality, Resident

log = logging.getLogger(__name__)

EVERY_S = 60.0


@dataclass(frozen=True)
class Window:
    """One day's check-in window, as instants."""

    opens: datetime
    closes: datetime


def window_on(day: date, start: time, until: time, zone: ZoneInfo) -> Window:
    """The window of `day` in the municipality's zone (a window past midnight ends the next day)."""
    opens = datetime.combine(day, start, zone)
    closes = datetime.combine(day if until > start else day + timedelta(days=1), until, zone)
    return Window(opens, closes)


def last_closed_window(now: datetime, start: time, until: time, zone: ZoneInfo) -> Window | None:
    """The latest window that closed today or yesterday (local), or None if none has yet."""
    today = now.astimezone(zone).date()
    for day in (today, today - timedelta(days=1)):
        window = window_on(day, start, until, zone)
        if window.closes <= now:
            return window
    return None


@dataclass(frozen=True)
class Candidate:
    resident_id: int
    municipality_id: int
    band_id: int
    window: Window


async def _candidates(session: AsyncSession, now: datetime) -> list[Candidate]:
    """Residents whose last closed window saw no check-in and has no no_checkin alarm yet."""
    rows = await session.execute(
        select(
            Resident.id,
            Resident.municipality_id,
            Resident.checkin_from,
            Resident.checkin_until,
            Municipality.timezone,
            func.min(Band.id),
            func.max(Band.last_checkin_at),
        )
        .join(Municipality, Municipality.id == Resident.municipality_id)
        .join(Band, (Band.resident_id == Resident.id) & (Band.status == BandStatus.ACTIVE.value))
        .where(Resident.active.is_(True), Resident.checkin_from.is_not(None), Resident.checkin_until.is_not(None))
        .group_by(
            Resident.id, Resident.municipality_id, Resident.checkin_from, Resident.checkin_until, Municipality.timezone
        )
    )
    missed = []
    for resident_id, municipality_id, start, until, timezone, band_id, last_checkin in rows:
        if start is None or until is None:
            continue  # filtered out by the query; for the type checker
        window = last_closed_window(now, start, until, ZoneInfo(timezone))
        if window is None or now - window.closes > timedelta(days=1):
            continue
        if last_checkin is not None and window.opens <= last_checkin:
            continue  # checked in (a check-in after the window also counts: the resident is fine)
        missed.append(Candidate(resident_id, municipality_id, band_id, window))
    if not missed:
        return []
    raised = await session.execute(
        select(Alarm.resident_id, func.max(Alarm.raised_at))
        .where(
            Alarm.kind == AlarmKind.NO_CHECKIN.value,
            Alarm.resident_id.in_({c.resident_id for c in missed}),
        )
        .group_by(Alarm.resident_id)
    )
    last_raised: dict[int | None, datetime] = {resident_id: at for resident_id, at in raised}
    return [c for c in missed if c.resident_id not in last_raised or last_raised[c.resident_id] < c.window.closes]


async def raise_missed_checkins(session: AsyncSession, *, now: datetime, policies: PolicyBook) -> list[int]:
    """Raise a no_checkin alarm for every window missed; the new alarms' ids. Does not commit."""
    candidates = await _candidates(session, now)
    if not candidates:
        return []
    inserted = await alarms.insert_alarms_if_none_open(
        session,
        [
            {
                "municipality_id": c.municipality_id,
                "resident_id": c.resident_id,
                "band_id": c.band_id,
                "kind": AlarmKind.NO_CHECKIN.value,
                "priority": int(PRIORITY_BY_KIND[AlarmKind.NO_CHECKIN]),
                "status": AlarmStatus.RAISED.value,
                "is_test": False,
                "raised_at": now,
                "repeat_count": 0,
                "note": "",
                "first_message_id": None,
            }
            for c in candidates
        ],
    )
    by_band = {band_id: alarm_id for (band_id, _, _), alarm_id in inserted.items()}
    raised = []
    for c in candidates:
        alarm_id = by_band.get(c.band_id)
        if alarm_id is None:
            continue  # one is open already (yesterday's, still not closed)
        detail = {
            "reason": "no_checkin",
            "window": f"{c.window.opens:%H:%M}–{c.window.closes:%H:%M}",
            "window_closed_at": c.window.closes.isoformat(),
        }
        await alarms.add_event(
            session, alarm_id=alarm_id, at=now, type="raised", actor_type="system", to_status="raised", detail=detail
        )
        await escalation.start(
            session,
            policies=policies,
            alarm_id=alarm_id,
            kind=AlarmKind.NO_CHECKIN.value,
            municipality_id=c.municipality_id,
            raised_at=now,
        )
        raised.append(alarm_id)
    if raised:
        after_commit(session, lambda: ALARMS_RAISED.labels(AlarmKind.NO_CHECKIN.value).inc(len(raised)))
    return raised


class CheckinWatch:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, policies: PolicySource) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policies = policies

    async def run_pass(self) -> list[int]:
        # Never raises: a broken file leaves the last good policies, or the built-in fallback.
        book = self._policies.current()
        async with self._sessions() as session, session.begin():
            raised = await raise_missed_checkins(session, now=self._clock.now(), policies=book)
        for alarm_id in raised:
            log.info("missed daily check-in: alarm %d raised", alarm_id)
        return raised


async def run_checkin_watch(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    """Judge the daily check-ins every minute, until cancelled."""
    watch = CheckinWatch(sessions, clock, PolicySource(settings.escalation.policies_path))
    await poll_forever(
        watch.run_pass,
        every_s=EVERY_S,
        clock=clock,
        round_seconds=metrics.PASS_SECONDS,
        failures=metrics.PASS_FAILURES,
        log=log,
        what="check-in pass",
    )
