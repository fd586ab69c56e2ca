"""`opaska band register|bind|swap|decommission|reissue|revoke|test-start|test-stop|tests`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.clock import SystemClock
from core.settings import Settings
from opaska.cli_time import local
from opaska.registry_cli import BAD_INPUT, refuse, refusing_bad_input, staff_id, transaction
from registry import bands, installation_test, municipalities
from registry.errors import RegistryError
from registry.health import PROBLEM_PL, device_health, health_csv

_ONCE_NOTE = "shown once: write it into the band now; only its hash is kept"


def _print_credentials(serial: str, secret: str) -> None:
    print(f"MQTT username: {serial}")
    print(f"MQTT password: {secret}")
    print(f"MQTT client id: band-{serial}")
    print(f"({_ONCE_NOTE})")


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
        bound = f", bound to resident {resident_id}" if resident_id is not None else ", in stock"
        print(f"band {band.serial} registered (id {band.id}{', IMEI ' + band.imei if band.imei else ''}){bound}")
        if registered.secret:
            _print_credentials(band.serial, registered.secret)
        else:
            print(f"reaches opaska through {band.adapter} as device {band.device_id} (no MQTT credentials)")


@refusing_bad_input
async def bind(settings: Settings, *, serial: str, resident_id: int, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await bands.bind_band(
            session, SystemClock(), band_id=band.id, resident_id=resident_id, staff_id=await staff_id(session, by)
        )
        print(f"band {band.serial} bound to resident {resident_id}")


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
        print(f"band {old_band.serial} retired; band {new_band.serial} now bound to resident {resident_id}")


@refusing_bad_input
async def decommission(settings: Settings, *, serial: str, note: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await bands.decommission_band(
            session, SystemClock(), band_id=band.id, note=note, staff_id=await staff_id(session, by)
        )
        print(f"band {band.serial} decommissioned: retired, credentials revoked, history kept")


@refusing_bad_input
async def reissue(settings: Settings, *, serial: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        registered = await bands.reissue_credentials(
            session, SystemClock(), band_id=band.id, staff_id=await staff_id(session, by)
        )
        print(f"band {band.serial}: new credentials; the old ones no longer work")
        _print_credentials(band.serial, registered.secret)


@refusing_bad_input
async def revoke(settings: Settings, *, serial: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await bands.revoke_credentials(session, SystemClock(), band_id=band.id, staff_id=await staff_id(session, by))
        print(
            f"band {band.serial}: credentials revoked; brokers refuse it within seconds "
            "(opaska band reissue gives it new ones)"
        )


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
        print(
            f"band {band.serial}: test mode until {local(until)}; its SOS and falls are test "
            "alarms (console only, marked TEST). Press SOS now, then: opaska band tests " + band.serial
        )


@refusing_bad_input
async def test_stop(settings: Settings, *, serial: str, by: str | None) -> None:
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        await installation_test.stop_test_mode(
            session, SystemClock(), band_id=band.id, staff_id=await staff_id(session, by)
        )
        print(f"band {band.serial}: test mode off; its alarms are real again")


@refusing_bad_input
async def tests(settings: Settings, *, serial: str, limit: int) -> None:
    """The band's installation test results, newest first."""
    async with transaction(settings) as session:
        band = await bands.find_band(session, serial_or_imei=serial)
        results = await installation_test.band_test_results(session, band_id=band.id, limit=limit)
        for result in results:
            verdict = "PASS" if result.passed else "FAIL"
            latency = f"{result.latency_ms} ms" if result.latency_ms is not None else "latency unknown"
            note = f" - {result.note}" if result.note else ""
            print(f"{local(result.received_at, seconds=True)} {result.kind:<5} {verdict} {latency}{note}")
        if not results:
            print("no test results")


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
            print(f"opaska: --csv: cannot write {csv_path}: {exc.strerror or exc}", file=sys.stderr)
            return BAD_INPUT
        print(f"{len(rows)} bands written to {csv_path} (UTF-8 with BOM, ';' separated, for Excel)")
        return 0
    for row in rows:
        seen = local(row.last_seen_at)
        battery = f"{row.battery_pct}%" if row.battery_pct is not None else "-"
        where = f"{row.municipality_code}/{row.resident_name}" if row.resident_name else "stock"
        problems = ", ".join(PROBLEM_PL[problem] for problem in row.problems) or "ok"
        print(
            f"{row.serial:<20} {where:<30} seen {seen:<16} battery {battery:<5} rejects {row.rejects_24h:<4} {problems}"
        )
    if not rows:
        print("every band is well")
    return 0
