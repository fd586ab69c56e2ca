"""`opaska band register|bind|swap|decommission|reissue|revoke|test-start|test-stop|tests`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.clock import SystemClock
from core.settings import Settings
from opaska.cli_time import local
from opaska.exits import BAD_INPUT
from opaska.messages import language, say
from opaska.registry_cli import refuse, refusing_bad_input, staff_id, transaction
from registry import bands, installation_test, municipalities
from registry.errors import RegistryError
from registry.health import PROBLEM_PL, Problem, device_health, health_csv


def _print_credentials(serial: str, secret: str) -> None:
    print(say("band.credentials", serial=serial, secret=secret))


def _problem(problem: Problem) -> str:
    # The registry names problems in Polish; in English the code itself (offline, not_worn, …) says it.
    return PROBLEM_PL[problem] if language() == "pl" else problem.value


@refusing_bad_input
async def register(
    settings: Settings,
    *,
    serial: str | None,
    imei: str | None,
    model: str,
    firmware: str,
    sim_phone: str | None,
    resident_id: int | None,
    by: str | None,
    adapter: str = "mqtt",
    device_id: str | None = None,
) -> None:
    async with transaction(settings) as session:
        registered = await bands.register_band(
            session,
            SystemClock(),
            serial=serial,
            imei=imei,
            model=model,
            firmware=firmware,
            sim_phone=sim_phone,
            resident_id=resident_id,
            staff_id=await staff_id(session, by),
            adapter=adapter,
            device_id=device_id,
        )
        band = registered.band
        imei = say("band.register.imei", imei=band.imei) if band.imei else ""
        if resident_id is None:
            print(say("band.register.in_stock", serial=band.serial, id=band.id, imei=imei))
        else:
            print(say("band.register.bound", serial=band.serial, id=band.id, imei=imei, resident_id=resident_id))
        if registered.secret:
            _print_credentials(band.serial, registered.secret)
        else:
            print(say("band.register.adapter", adapter=band.adapter, device_id=band.device_id))


@refusing_bad_input
async def bind(settings: Settings, *, serial: str, resident_id: int, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await bands.bind_band(
            session, SystemClock(), band_id=band.id, resident_id=resident_id, staff_id=await staff_id(session, by)
        )
        print(say("band.bind.done", serial=band.serial, resident_id=resident_id))


@refusing_bad_input
async def swap(settings: Settings, *, old: str, new: str, note: str, by: str | None) -> None:
    async with transaction(settings) as session:
        old_band = await bands.find_band(session, serial_or_imei=old)
        new_band = await bands.find_band(session, serial_or_imei=new)
        resident_id = old_band.resident_id
        await bands.swap_band(
            session,
            SystemClock(),
            old_band_id=old_band.id,
            new_band_id=new_band.id,
            note=note,
            staff_id=await staff_id(session, by),
        )
        print(say("band.swap.done", old=old_band.serial, new=new_band.serial, resident_id=resident_id))


@refusing_bad_input
async def decommission(settings: Settings, *, serial: str, note: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await bands.decommission_band(
            session, SystemClock(), band_id=band.id, note=note, staff_id=await staff_id(session, by)
        )
        print(say("band.decommission.done", serial=band.serial))


@refusing_bad_input
async def reissue(settings: Settings, *, serial: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        registered = await bands.reissue_credentials(
            session, SystemClock(), band_id=band.id, staff_id=await staff_id(session, by)
        )
        print(say("band.reissue.done", serial=band.serial))
        _print_credentials(band.serial, registered.secret)


@refusing_bad_input
async def revoke(settings: Settings, *, serial: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await bands.revoke_credentials(session, SystemClock(), band_id=band.id, staff_id=await staff_id(session, by))
        print(say("band.revoke.done", serial=band.serial))


@refusing_bad_input
async def test_start(settings: Settings, *, serial: str, minutes: int | None, by: str | None) -> None:
    minutes = minutes or settings.bands.test_mode_minutes
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await installation_test.start_test_mode(
            session, SystemClock(), band_id=band.id, minutes=minutes, staff_id=await staff_id(session, by)
        )
        until = band.test_mode_until
        assert until is not None
        print(say("band.test_start.done", serial=band.serial, until=local(until)))


@refusing_bad_input
async def test_stop(settings: Settings, *, serial: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await installation_test.stop_test_mode(
            session, SystemClock(), band_id=band.id, staff_id=await staff_id(session, by)
        )
        print(say("band.test_stop.done", serial=band.serial))


@refusing_bad_input
async def tests(settings: Settings, *, serial: str, limit: int) -> None:
    """The band's installation test results, newest first."""
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        results = await installation_test.band_test_results(session, band_id=band.id, limit=limit)
        for result in results:
            verdict = say("band.tests.pass" if result.passed else "band.tests.fail")
            latency = f"{result.latency_ms} ms" if result.latency_ms is not None else say("band.tests.no_latency")
            note = f" - {result.note}" if result.note else ""
            print(f"{local(result.received_at, seconds=True)} {result.kind:<5} {verdict} {latency}{note}")
        if not results:
            print(say("band.tests.none"))


async def health(settings: Settings, *, municipality: str | None, csv_path: str | None, include_all: bool) -> int:
    """Bands that need a technician (or all with --all); as a table, or as a CSV file for Excel."""
    try:
        async with transaction(settings) as session:
            municipality_id = None
            if municipality:
                municipality_id = (await municipalities.get_by_code(session, code=municipality)).id
            rows = await device_health(
                session,
                now=SystemClock().now(),
                settings=settings.bands,
                municipality_id=municipality_id,
                only_problems=not include_all,
            )
    except RegistryError as exc:
        return refuse(exc)
    if csv_path:
        try:
            await asyncio.to_thread(Path(csv_path).write_bytes, health_csv(rows))
        except OSError as exc:
            print(f"opaska: --csv: {say('cannot_write', path=csv_path, reason=exc.strerror or exc)}", file=sys.stderr)
            return BAD_INPUT
        print(say("band.health.written", count=len(rows), path=csv_path))
        return 0
    for row in rows:
        battery = f"{row.battery_pct}%" if row.battery_pct is not None else "-"
        where = f"{row.municipality_code}/{row.resident_name}" if row.resident_name else say("band.health.stock")
        problems = ", ".join(_problem(problem) for problem in row.problems) or "ok"
        seen = local(row.last_seen_at, never=say("never"))
        print(
            say(
                "band.health.line",
                serial=f"{row.serial:<20}",
                where=f"{where:<30}",
                seen=f"{seen:<16}",
                battery=f"{battery:<5}",
                rejects=f"{row.rejects_24h:<4}",
                problems=problems,
            )
        )
    if not rows:
        print(say("band.health.none"))
    return 0
