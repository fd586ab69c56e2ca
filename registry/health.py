"""Device health: which bands need a technician, and why, with last seen and battery.

A band is listed when it is offline (silent for its heartbeat interval × [bands]
offline_after_missed, or its last will said so), not worn (strap off for [bands]
not_worn_after_s), low on battery, bound but never connected, or sending many messages the
gateway refuses (the dead-letter table, [bands] health_rejects_per_day in 24 hours). The same
thresholds as supervision's technical alarms, so the list and the alarms agree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import BandSettings
from core.spreadsheet import as_text
from registry.model import Band, BandStatus, Municipality, Resident
from registry.traffic.dead_letters import DeadLetter

LOCAL = ZoneInfo("Europe/Warsaw")


class Problem(StrEnum):
    OFFLINE = "offline"
    NOT_WORN = "not_worn"
    BATTERY_LOW = "battery_low"
    NEVER_CONNECTED = "never_connected"
    MANY_REJECTS = "many_rejects"


PROBLEM_PL = {
    Problem.OFFLINE: "brak łączności",
    Problem.NOT_WORN: "nienoszona",
    Problem.BATTERY_LOW: "niski poziom baterii",
    Problem.NEVER_CONNECTED: "nigdy nie połączona",
    Problem.MANY_REJECTS: "wiele odrzuconych wiadomości",
}


@dataclass(frozen=True)
class BandHealth:
    """One band's health: the view the console's API returns as it is."""

    band_id: int
    serial: str
    imei: str | None
    model: str
    status: str
    municipality_code: str | None
    resident_id: int | None
    resident_name: str | None
    last_seen_at: datetime | None
    battery_pct: int | None
    online: bool | None
    rejects_24h: int
    # Codes (offline, not_worn, battery_low, never_connected, many_rejects) and the same in Polish
    # (`PROBLEM_PL`): the console shows the Polish and styles each tag by its code.
    problems: list[Problem]
    problems_pl: list[str]


async def _rejects_since(session: AsyncSession, since: datetime) -> dict[str, int]:
    rows = await session.execute(
        select(DeadLetter.band_serial, func.count())
        .where(DeadLetter.received_at >= since, DeadLetter.band_serial.is_not(None))
        .group_by(DeadLetter.band_serial)
    )
    return {serial: count for serial, count in rows if serial is not None}


def judge_band(band: Band, *, now: datetime, settings: BandSettings, rejects_24h: int) -> list[Problem]:
    """What is wrong with this band now, by the supervision thresholds."""
    problems: list[Problem] = []
    interval_s = band.heartbeat_interval_s if band.heartbeat_interval_s and band.heartbeat_interval_s > 0 else None
    window = timedelta(seconds=(interval_s or settings.heartbeat_interval_s) * settings.offline_after_missed)
    if band.last_seen_at is None:
        if band.status == BandStatus.ACTIVE:
            problems.append(Problem.NEVER_CONNECTED)
    elif band.online is False or now - band.last_seen_at >= window:
        problems.append(Problem.OFFLINE)
    if band.worn is False and (
        band.unworn_since is None or now - band.unworn_since >= timedelta(seconds=settings.not_worn_after_s)
    ):
        problems.append(Problem.NOT_WORN)
    if band.battery_pct is not None and band.battery_pct < settings.battery_low_pct and not band.charging:
        problems.append(Problem.BATTERY_LOW)
    if rejects_24h >= settings.health_rejects_per_day:
        problems.append(Problem.MANY_REJECTS)
    return problems


async def device_health(
    session: AsyncSession,
    *,
    now: datetime,
    settings: BandSettings,
    municipality_id: int | None = None,
    municipality_ids: Collection[int] | None = None,
    only_problems: bool = True,
) -> list[BandHealth]:
    """Bands in service or in stock (never retired ones), worst news first: those with problems,
    by the number of problems, then by serial. With a municipality, only bands bound there."""
    query = (
        select(Band, Resident.first_name, Resident.last_name, Municipality.code)
        .outerjoin(Resident, Resident.id == Band.resident_id)
        .outerjoin(Municipality, Municipality.id == Resident.municipality_id)
        .where(Band.status != BandStatus.RETIRED.value)
    )
    if municipality_id is not None:
        query = query.where(Resident.municipality_id == municipality_id)
    if municipality_ids is not None:
        query = query.where(Resident.municipality_id.in_(list(municipality_ids)))
    rejects = await _rejects_since(session, now - timedelta(hours=24))
    found: list[BandHealth] = []
    for band, first_name, last_name, code in await session.execute(query):
        band_rejects = rejects.get(band.serial, 0)
        problems = judge_band(band, now=now, settings=settings, rejects_24h=band_rejects)
        if only_problems and not problems:
            continue
        found.append(
            BandHealth(
                band_id=band.id,
                serial=band.serial,
                imei=band.imei,
                model=band.model,
                status=band.status,
                municipality_code=code,
                resident_id=band.resident_id,
                resident_name=f"{first_name} {last_name}" if first_name is not None else None,
                last_seen_at=band.last_seen_at,
                battery_pct=band.battery_pct,
                online=band.online,
                rejects_24h=band_rejects,
                problems=problems,
                problems_pl=[PROBLEM_PL[problem] for problem in problems],
            )
        )
    found.sort(key=lambda row: (-len(row.problems), row.serial))
    return found


CSV_COLUMNS = (
    "numer_opaski",
    "imei",
    "model",
    "gmina",
    "mieszkaniec",
    "problemy",
    "ostatnio_widziana",
    "bateria_proc",
    "odrzucone_24h",
)


def _local(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def health_csv(rows: list[BandHealth]) -> bytes:
    """The list as Polish Excel opens it by double-click: UTF-8 with a BOM (without one Excel reads
    cp1250 and garbles ą, ł, ż), `;` between fields (Excel with Polish regional settings uses the
    comma as the decimal sign and `;` as the list separator), CRLF, local time (Europe/Warsaw)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                as_text(row.serial),
                row.imei or "",
                as_text(row.model),
                as_text(row.municipality_code or ""),
                as_text(row.resident_name or ""),
                ", ".join(PROBLEM_PL[problem] for problem in row.problems),
                _local(row.last_seen_at),
                "" if row.battery_pct is None else str(row.battery_pct),
                str(row.rejects_24h),
            ]
        )
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
