"""What operations watch that no single event counts: open alarms by kind and age, bands by
presence, today's answer-time shares. Read from the database every few seconds by the console
(console/routes/sla_metrics.py) and exposed at its /metrics, so Prometheus alert rules see an SOS
left waiting even when nothing else happens.

Gauges, refreshed by a loop rather than read at scrape time: prometheus_client collects
synchronously, and the database is reached only asynchronously here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmKind
from alarm_center.quality import sla
from core.clock import Clock
from core.settings import BandSettings
from registry.model import Band, BandStatus
from registry.presence import count_bands_online

log = logging.getLogger(__name__)

# (label, upper bound in seconds): the first two edges are the answer-time targets.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under_60s", 60),
    ("60s_to_180s", 180),
    ("180s_to_15m", 900),
    ("15m_to_1h", 3600),
    ("over_1h", math.inf),
)
EVERY_S = 15.0

ALARMS_OPEN = Gauge(
    "opaska_alarms_open",
    "Open alarms (test alarms apart) by kind, status (raised: waiting for an operator; claimed) and age since "
    "the band's message was received.",
    ["kind", "status", "age"],
)
OLDEST_UNCLAIMED = Gauge(
    "opaska_alarm_oldest_unclaimed_seconds",
    "Age of the oldest open alarm nobody has claimed, by kind (0 when there is none).",
    ["kind"],
)
BANDS = Gauge(
    "opaska_bands",
    "Bands in service (bound to a resident) by presence: online (heard within their offline window), offline "
    "(silent longer), never_connected.",
    ["presence"],
)
ANSWER_SHARE_TODAY = Gauge(
    "opaska_alarm_answer_share_today",
    "Share of today's SOS and fall alarms (Europe/Warsaw day, tests excluded) claimed within the target "
    "(60 or 180 s), of those already judged; NaN before the first.",
    ["target"],
)
REFRESH_SECONDS = Histogram(
    "opaska_care_metrics_refresh_seconds",
    "One refresh of the care gauges from the database.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REFRESH_FAILURES = Counter("opaska_care_metrics_refresh_failures_total", "Care gauge refreshes that failed.")
REFRESHED_AT = Gauge(
    "opaska_care_metrics_refreshed_timestamp_seconds", "When the care gauges were last refreshed (Unix time)."
)


def age_bucket(seconds: float) -> str:
    return next(name for name, upper in AGE_BUCKETS if seconds < upper)


async def refresh(session: AsyncSession, *, now: datetime, bands: BandSettings) -> None:
    """Read the figures and set the gauges; every label combination is set, zeros included, so a
    series goes back to 0 instead of vanishing."""
    rows = (
        await session.execute(
            select(Alarm.kind, Alarm.status, Alarm.raised_at).where(
                Alarm.status.in_([s.value for s in OPEN_STATUSES]), Alarm.is_test.is_(False)
            )
        )
    ).all()
    kinds = sorted({k.value for k in AlarmKind} | {row.kind for row in rows})
    counts = {(k, s.value, a): 0 for k in kinds for s in OPEN_STATUSES for a, _ in AGE_BUCKETS}
    oldest = dict.fromkeys(kinds, 0.0)
    for kind, status, raised_at in rows:
        age = max(0.0, (now - raised_at).total_seconds())
        counts[(kind, status, age_bucket(age))] += 1
        if status == OPEN_STATUSES[0]:
            oldest[kind] = max(oldest[kind], age)

    in_service = (Band.status == BandStatus.ACTIVE.value, Band.resident_id.is_not(None))
    never = (
        await session.execute(select(func.count()).select_from(Band).where(*in_service, Band.last_seen_at.is_(None)))
    ).scalar_one()
    heard = (
        await session.execute(select(func.count()).select_from(Band).where(*in_service, Band.last_seen_at.is_not(None)))
    ).scalar_one()
    online = await count_bands_online(session, now=now, bands=bands)

    timings = await sla.load_timings(
        session,
        since=sla.period_start(sla.Period.TODAY, now),
        until=now,
        municipality_ids=None,
    )
    figures = sla.summarise(timings, now=now)

    for (kind, status, bucket), count in counts.items():
        ALARMS_OPEN.labels(kind, status, bucket).set(count)
    for kind, seconds in oldest.items():
        OLDEST_UNCLAIMED.labels(kind).set(seconds)
    BANDS.labels("online").set(online)
    BANDS.labels("offline").set(max(0, int(heard) - online))
    BANDS.labels("never_connected").set(int(never))
    for target in figures.within:
        share = target.share
        ANSWER_SHARE_TODAY.labels(str(target.target_s)).set(math.nan if share is None else share)
    REFRESHED_AT.set(now.timestamp())


async def keep_fresh(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, bands: BandSettings, every_s: float = EVERY_S
) -> None:
    """Refresh the gauges until cancelled; a failed refresh is counted and tried again next time."""
    while True:
        started = time.perf_counter()
        try:
            async with sessions() as session:
                await refresh(session, now=clock.now(), bands=bands)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the console says so elsewhere; keep trying
            REFRESH_FAILURES.inc()
            log.debug("care metrics not refreshed: %s", exc)
        else:
            REFRESH_SECONDS.observe(time.perf_counter() - started)
        await clock.sleep(every_s)
