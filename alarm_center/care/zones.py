"""Wandering zones: each resident with a safe zone has their band's newest position judged against
it (zone_rule.py). Leaving raises a `left_zone` alarm with the position; coming back is recorded on
that alarm's timeline (the operator still closes it, after a call: back home is not "all is well").

Each pass reads from the database what it needs (the zone, the newest position, the last
judgement and its position's time) and writes the judgement back with the alarm, in one
transaction: a restarted or a second engine neither raises the same exit twice nor misses one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.intake import raise_by_system
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmKind
from alarm_center.care import metrics
from alarm_center.care.zone_rule import Fix, Verdict, Zone, distance_m, judge
from alarm_center.escalation.policy import PolicyBook, PolicySource
from core.clock import Clock
from core.poll import poll_forever
from core.settings import Settings
from registry.band_signal import band_location
from registry.model import Band, BandStatus, Resident

log = logging.getLogger(__name__)

EVERY_S = 10.0


@dataclass(frozen=True)
class Sighting:
    """A resident's zone, their band's newest position not judged yet, and the last judgement."""

    resident_id: int
    municipality_id: int
    band_id: int
    zone: Zone
    fix: Fix
    position_at: datetime
    source: str | None
    was_outside: bool


def _position_time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


async def _sightings(session: AsyncSession) -> list[Sighting]:
    rows = await session.execute(
        select(
            Resident.id,
            Resident.municipality_id,
            Resident.zone_lat,
            Resident.zone_lon,
            Resident.zone_radius_m,
            Resident.zone_outside,
            Resident.zone_judged_at,
            Band.id,
            Band.last_location,
        )
        .join(Band, (Band.resident_id == Resident.id) & (Band.status == BandStatus.ACTIVE.value))
        .where(
            Resident.active.is_(True),
            Resident.zone_lat.is_not(None),
            Resident.zone_lon.is_not(None),
            Resident.zone_radius_m.is_not(None),
            Band.last_location.is_not(None),
        )
        .order_by(Resident.id, Band.id)
    )
    sightings: dict[int, Sighting] = {}
    for resident_id, municipality_id, lat, lon, radius, outside, judged_at, band_id, raw in rows:
        location = band_location(raw)
        position_at = _position_time(location.at) if location else None
        if location is None or position_at is None or lat is None or lon is None or radius is None:
            continue
        if judged_at is not None and position_at <= judged_at:
            continue  # judged already
        newest = sightings.get(resident_id)
        if newest is not None and newest.position_at >= position_at:
            continue  # two bands: the newer position speaks
        sightings[resident_id] = Sighting(
            resident_id=resident_id,
            municipality_id=municipality_id,
            band_id=band_id,
            zone=Zone(lat, lon, float(radius)),
            fix=Fix(location.lat, location.lon, location.accuracy_m or 0.0),
            position_at=position_at,
            source=location.source,
            was_outside=outside,
        )
    return list(sightings.values())


def _where(s: Sighting) -> dict[str, Any]:
    """The position for the timeline and the map (no more than the alarm page shows anyway)."""
    return {
        "lat": round(s.fix.lat, 6),
        "lon": round(s.fix.lon, 6),
        "accuracy_m": round(s.fix.accuracy_m),
        "source": s.source,
        "distance_m": round(distance_m(s.zone.lat, s.zone.lon, s.fix.lat, s.fix.lon)),
        "radius_m": round(s.zone.radius_m),
        "position_at": s.position_at.isoformat(),
    }


async def _raise_left(session: AsyncSession, s: Sighting, *, now: datetime, policies: PolicyBook) -> int | None:
    # None: one is open already (left, came back, left again before anyone closed it).
    return await raise_by_system(
        session,
        kind=AlarmKind.LEFT_ZONE,
        band_id=s.band_id,
        resident_id=s.resident_id,
        municipality_id=s.municipality_id,
        at=now,
        detail={"reason": "left_zone", **_where(s)},
        policies=policies,
    )


async def _record_return(session: AsyncSession, s: Sighting, *, now: datetime) -> int | None:
    alarm_id = (
        await session.execute(
            select(Alarm.id, Alarm.status).where(
                Alarm.band_id == s.band_id,
                Alarm.kind == AlarmKind.LEFT_ZONE.value,
                Alarm.status.in_([status.value for status in OPEN_STATUSES]),
            )
        )
    ).first()
    if alarm_id is None:
        return None  # closed already: the return is only the band's position
    await alarms.add_event(
        session,
        alarm_id=alarm_id.id,
        at=now,
        type="note",
        actor_type="system",
        from_status=alarm_id.status,
        to_status=alarm_id.status,
        detail={"action": "zone_return", **_where(s)},
    )
    return int(alarm_id.id)


@dataclass(frozen=True)
class PassResult:
    left: list[int]  # new left_zone alarms
    returned: list[int]  # residents back inside


async def judge_positions(session: AsyncSession, *, now: datetime, policies: PolicyBook) -> PassResult:
    """Judge every new position against its resident's zone; raise and record. Does not commit."""
    left: list[int] = []
    returned: list[int] = []
    for s in await _sightings(session):
        verdict = judge(s.zone, s.fix, was_outside=s.was_outside)
        outside = s.was_outside
        if verdict == Verdict.LEFT:
            outside = True
            alarm_id = await _raise_left(session, s, now=now, policies=policies)
            if alarm_id is not None:
                left.append(alarm_id)
        elif verdict == Verdict.RETURNED:
            outside = False
            await _record_return(session, s, now=now)
            returned.append(s.resident_id)
        await session.execute(
            update(Resident)
            .where(Resident.id == s.resident_id)
            .values(zone_outside=outside, zone_judged_at=s.position_at)
        )
    return PassResult(left, returned)


class ZoneWatch:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, policies: PolicySource) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policies = policies

    async def run_pass(self) -> PassResult:
        # Never raises: a broken file leaves the last good policies, or the built-in fallback.
        book = self._policies.current()
        async with self._sessions() as session, session.begin():
            result = await judge_positions(session, now=self._clock.now(), policies=book)
        for alarm_id in result.left:
            log.info("band left its safe zone: alarm %d raised", alarm_id)
        return result


async def run_zone_watch(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    """Judge new band positions against the safe zones every few seconds, until cancelled."""
    watch = ZoneWatch(sessions, clock, PolicySource(settings.escalation.policies_path))
    await poll_forever(
        watch.run_pass,
        every_s=EVERY_S,
        clock=clock,
        round_seconds=metrics.ZONE_PASS_SECONDS,
        failures=metrics.ZONE_PASS_FAILURES,
        log=log,
        what="zone pass",
    )
