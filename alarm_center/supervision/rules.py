"""The supervision rules: when a band's technical alarm is raised, and when it clears.

Each rule takes one batch of candidates selected in SQL and raises or clears their alarms in the
caller's transaction. Rules keep no state of their own: what is open is in the alarm table, so a
restarted (or a second) supervisor continues exactly where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import AlarmKind
from alarm_center.alarms.technical import TechnicalClear, TechnicalRaise, clear_technical, raise_technical
from alarm_center.supervision import repository
from alarm_center.supervision.repository import BandCandidate, OpenTechnical
from core.settings import BandSettings


@dataclass(frozen=True)
class Judgement:
    """What one pass judges by: the settings, one instant, and whether a gateway is listening."""

    bands: BandSettings
    now: datetime
    # When the newest connection of a live gateway began; None: no gateway is alive and connected,
    # so a silent band cannot be told from our own outage and offline is not judged.
    gateway_since: datetime | None


@dataclass(frozen=True)
class Change:
    action: Literal["raised", "cleared"]
    kind: str
    alarm_id: int
    band_id: int
    reason: str


@dataclass(frozen=True)
class Batch:
    changes: list[Change]
    # The batch was full: there may be more candidates, so the rule should run again.
    more: bool


Rule = Callable[[AsyncSession, Judgement, int], Awaitable[Batch]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _raise_each(
    session: AsyncSession,
    judgement: Judgement,
    candidates: list[BandCandidate],
    limit: int,
    *,
    kind: AlarmKind,
    reason: str,
    detail: Callable[[BandCandidate], dict[str, Any]],
) -> Batch:
    raised = await raise_technical(
        session,
        kind=kind,
        at=judgement.now,
        alarms=[
            TechnicalRaise(band.band_id, band.resident_id, band.municipality_id, {"reason": reason, **detail(band)})
            for band in candidates
        ],
    )
    # A candidate missing from `raised` got its alarm from another supervisor first.
    changes = [Change("raised", kind.value, alarm_id, band_id, reason) for band_id, alarm_id in sorted(raised.items())]
    return Batch(changes, more=len(candidates) == limit)


async def _clear_each(
    session: AsyncSession,
    judgement: Judgement,
    alarms: list[OpenTechnical],
    limit: int,
    *,
    why: Callable[[OpenTechnical], tuple[str, dict[str, Any]]],
) -> Batch:
    reasons = {alarm.alarm_id: why(alarm) for alarm in alarms}
    cleared = set(
        await clear_technical(
            session,
            at=judgement.now,
            alarms=[TechnicalClear(alarm.alarm_id, alarm.status, *reasons[alarm.alarm_id]) for alarm in alarms],
        )
    )
    changes = [
        Change("cleared", alarm.kind, alarm.alarm_id, alarm.band_id, reasons[alarm.alarm_id][0])
        for alarm in alarms
        if alarm.alarm_id in cleared
    ]
    return Batch(changes, more=len(alarms) == limit)


async def raise_offline(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """Band offline: no message for `offline_after_missed` of its intervals, counted from the later
    of its last message and the gateway's (re)connection."""
    gateway_since = judgement.gateway_since
    if gateway_since is None:
        return Batch([], more=False)
    bands = judgement.bands
    candidates = await repository.offline_candidates(
        session,
        now=judgement.now,
        missed=bands.offline_after_missed,
        default_interval_s=bands.heartbeat_interval_s,
        gateway_since=gateway_since,
        limit=limit,
    )

    def detail(band: BandCandidate) -> dict[str, Any]:
        assert band.last_seen_at is not None  # the query selects seen bands only
        return {
            "last_seen_at": _iso(band.last_seen_at),
            "heartbeat_interval_s": band.interval_s,
            "offline_after_s": band.interval_s * bands.offline_after_missed,
            "counted_from": _iso(max(band.last_seen_at, gateway_since)),
        }

    return await _raise_each(
        session, judgement, candidates, limit, kind=AlarmKind.BAND_OFFLINE, reason="no_message", detail=detail
    )


async def clear_offline(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """Band offline clears as soon as the band is heard from after the alarm was raised."""
    alarms = await repository.offline_seen_again(session, limit=limit)
    return await _clear_each(
        session, judgement, alarms, limit, why=lambda a: ("seen_again", {"last_seen_at": _iso(a.last_seen_at)})
    )


async def raise_battery_low(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """Battery low: below `battery_low_pct` and not charging. One open alarm, not one per heartbeat."""
    bands = judgement.bands
    candidates = await repository.battery_low_candidates(
        session, low_pct=bands.battery_low_pct, default_interval_s=bands.heartbeat_interval_s, limit=limit
    )
    return await _raise_each(
        session,
        judgement,
        candidates,
        limit,
        kind=AlarmKind.BATTERY_LOW,
        reason="battery_low",
        detail=lambda b: {
            "battery_pct": b.battery_pct,
            "charging": b.charging,
            "battery_low_pct": bands.battery_low_pct,
            "last_seen_at": _iso(b.last_seen_at),
        },
    )


def _battery_ok_pct(bands: BandSettings) -> int:
    # Never below the low mark: an "ok" under "low" would raise and clear the same band every pass.
    return max(bands.battery_ok_pct, bands.battery_low_pct)


async def clear_battery_low(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """Battery low clears when charging or back at `battery_ok_pct` (hysteresis: no flapping at the mark)."""
    ok_pct = _battery_ok_pct(judgement.bands)
    alarms = await repository.battery_recovered(session, ok_pct=ok_pct, limit=limit)
    return await _clear_each(
        session,
        judgement,
        alarms,
        limit,
        why=lambda a: (
            "charging" if a.charging else "battery_ok",
            {"battery_pct": a.battery_pct, "charging": a.charging, "battery_ok_pct": ok_pct},
        ),
    )


async def raise_not_worn(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """Not worn: the strap has been off for `not_worn_after_s`."""
    bands = judgement.bands
    candidates = await repository.not_worn_candidates(
        session,
        unworn_before=judgement.now - timedelta(seconds=bands.not_worn_after_s),
        default_interval_s=bands.heartbeat_interval_s,
        limit=limit,
    )
    return await _raise_each(
        session,
        judgement,
        candidates,
        limit,
        kind=AlarmKind.NOT_WORN,
        reason="not_worn",
        detail=lambda b: {"unworn_since": _iso(b.unworn_since), "not_worn_after_s": bands.not_worn_after_s},
    )


async def clear_not_worn(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """Not worn clears when the band is worn again (or was, before being taken off anew)."""
    alarms = await repository.worn_again(session, limit=limit)
    return await _clear_each(
        session, judgement, alarms, limit, why=lambda a: ("worn_again", {"unworn_since": _iso(a.unworn_since)})
    )


async def clear_out_of_service(session: AsyncSession, judgement: Judgement, limit: int) -> Batch:
    """A band retired, returned to stock or moved to another resident takes its technical alarms along:
    nobody could clear them otherwise, and they would block the new resident's alarms."""
    alarms = await repository.out_of_service(session, limit=limit)

    def why(alarm: OpenTechnical) -> tuple[str, dict[str, Any]]:
        in_service = alarm.band_status == "active" and alarm.band_resident_id is not None
        reason = "band_reassigned" if in_service else "band_out_of_service"
        return reason, {"band_status": alarm.band_status}

    return await _clear_each(session, judgement, alarms, limit, why=why)


# Clears first, so a pass never holds an alarm open for a cause that is already gone.
RULES: tuple[Rule, ...] = (
    clear_out_of_service,
    clear_offline,
    clear_battery_low,
    clear_not_worn,
    raise_offline,
    raise_battery_low,
    raise_not_worn,
)
