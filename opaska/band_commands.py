"""`opaska band …`: what a technician does to one band from the command line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import SystemClock
from core.settings import Settings
from opaska.cli_time import local
from opaska.exits import BadInput
from opaska.messages import say
from opaska.registry_cli import reading, transaction
from registry.model import Band
from registry.traffic import downlinks as downlink
from registry.traffic.dead_letters import recent_dead_letters


async def _band(session: AsyncSession, serial: str) -> Band:
    band = (await session.execute(select(Band).where(Band.serial == serial))).scalar_one_or_none()
    if band is None:
        raise BadInput(say("band.unknown", serial=serial))
    return band


async def configure(settings: Settings, serial: str, *, heartbeat_interval_s: int | None) -> int:
    """Set the band's own heartbeat interval (or go back to the default) and send it its config."""
    if heartbeat_interval_s is not None and not 10 <= heartbeat_interval_s <= 86400:
        raise BadInput(say("band.config.bad_interval"))
    async with transaction(settings) as session:
        band = await _band(session, serial)
        band.heartbeat_interval_s = heartbeat_interval_s
        await downlink.push_config(session, SystemClock(), band=band, defaults=settings.bands)
    interval = heartbeat_interval_s or settings.bands.heartbeat_interval_s
    print(say("band.config.done", serial=serial, interval=interval))
    return 0


async def locate(settings: Settings, serial: str) -> int:
    async with transaction(settings) as session:
        request_id = await downlink.request_location(session, SystemClock(), band=await _band(session, serial))
    print(say("band.locate.done", serial=serial, request_id=request_id))
    return 0


async def rejects(settings: Settings, serial: str | None, *, limit: int) -> int:
    """The newest rejected messages (of one band, or of all), newest first."""
    async with reading(settings) as session:
        letters = await recent_dead_letters(session, band=serial, limit=limit)
    for letter in letters:
        print(
            f"{local(letter.received_at, seconds=True)} {letter.band_serial or '-'} {letter.kind or '-'} "
            f"{letter.reason}: {letter.detail} | {letter.payload[:120]!r}"
        )
    if not letters:
        print(say("band.rejects.none"))
    return 0
