"""The fleet simulator's scenarios against the real gateway: each produces the alarms it promises."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from registry.model import Band
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy
from simulator.fleet import BandCredentials, Fleet
from simulator.mqtt311 import LinkError, open_link
from simulator.provision import provision_fleet, read_secrets, write_secrets
from simulator.scenarios import ScenarioReport, run_scenario
from tests.conftest import embedded_test_broker
from tests.support.gateway import GatewayHarness, eventually

pytestmark = pytest.mark.asyncio


async def _run(harness: GatewayHarness, scenario: str, bands: int, duration_s: float = 2.0) -> ScenarioReport:
    provisioned = await provision_fleet(harness.sessions, harness.clock, count=bands, prefix=f"S{uuid.uuid4().hex[:6]}")
    credentials = provisioned.credentials
    fleet = Fleet(
        credentials,
        host=harness.endpoint.host,
        port=harness.endpoint.port,
        topics=harness.topics,
        seed=7,
        heartbeat_interval_s=1.0,
        repeat=RepeatPolicy(2, 5),
        reconnect_first_s=0.2,
    )
    await fleet.start()
    for band in fleet.bands:
        band.fall_cancel_window_s = 3.0  # the sleep before "I am OK" is a third of it
    try:
        return await run_scenario(fleet, scenario, seed=11, duration_s=duration_s, grace_s=20)
    finally:
        await fleet.stop()


async def _alarms(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str, int, str | None]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Band.serial, Alarm.kind, Alarm.status, Alarm.repeat_count, Alarm.outcome).join(
                Band, Band.id == Alarm.band_id
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.mark.parametrize(("scenario", "bands"), [("sos_storm", 4), ("normal_day", 3), ("fall_no_cancel", 2)])
async def test_alarm_scenarios_raise_one_alarm_per_expected_press(
    harness: GatewayHarness, scenario: str, bands: int
) -> None:
    async with harness.gateway():
        report = await _run(harness, scenario, bands)
    assert report.unacknowledged == []
    assert report.expected.alarms
    alarms = await _alarms(harness.sessions)
    assert sorted((serial, kind) for serial, kind, *_ in alarms) == sorted(report.expected.alarms)
    assert all(status == "raised" for _, _, status, _, _ in alarms)
    assert report.stats["alarms_acknowledged"] == len(report.expected.alarms)


async def test_fall_then_cancel_cancels_the_fall(harness: GatewayHarness) -> None:
    async with harness.gateway():
        report = await _run(harness, "fall_cancel", 2)
    assert report.unacknowledged == []
    alarms = await _alarms(harness.sessions)
    assert [(serial, kind, status) for serial, kind, status, _, _ in alarms] == [
        (report.expected.cancelled_falls[0], "fall", "cancelled")
    ]


async def test_repeated_presses_merge_into_one_alarm(harness: GatewayHarness) -> None:
    async with harness.gateway():
        report = await _run(harness, "repeated_presses", 2)
    assert report.unacknowledged == []
    (serial,) = report.expected.repeated_presses
    assert [(s, kind, repeats) for s, kind, _, repeats, _ in await _alarms(harness.sessions)] == [(serial, "sos", 2)]
    assert report.stats["sent"]["sos"] >= 3


async def test_telemetry_scenarios_reach_presence(harness: GatewayHarness) -> None:
    sessions = harness.sessions
    async with harness.gateway():
        drained = await _run(harness, "battery_drains", 3)
        strapped = await _run(harness, "strap_off", 3)
        silent = await _run(harness, "band_silent", 3)

        async def presence_landed() -> bool:
            async with sessions() as session:
                low = (
                    await session.scalars(
                        select(Band.serial)
                        .join(BandMessage, BandMessage.band_id == Band.id)
                        .where(BandMessage.kind == "battery_low")
                    )
                ).all()
                off = (await session.scalars(select(Band.serial).where(Band.worn.is_(False)))).all()
                gone = (await session.scalars(select(Band.serial).where(Band.online.is_(False)))).all()
            return (
                sorted(low) == sorted(drained.expected.battery_low)
                and sorted(off) == sorted(strapped.expected.strap_off)
                and set(silent.expected.silent) <= set(gone)
            )

        await eventually(presence_landed, timeout=10)
    assert drained.stats["sent"]["heartbeat"] > 0
    assert await _alarms(sessions) == []


async def test_reconnect_storm_brings_every_band_back(harness: GatewayHarness) -> None:
    async with harness.gateway():
        report = await _run(harness, "reconnect_storm", 5, duration_s=3.0)
    assert report.reconnect_s is not None
    assert report.stats["connects"] >= 10


async def test_fleet_reacts_to_config_and_refused_secret_is_an_error(harness: GatewayHarness) -> None:
    prefix = f"C{uuid.uuid4().hex[:6]}"
    credentials = (await provision_fleet(harness.sessions, harness.clock, count=1, prefix=prefix)).credentials
    # The machine's Mosquitto admits anyone, so the refusal is asked of a broker that checks secrets.
    async with embedded_test_broker(harness.sessions, harness.topics) as checking_broker:
        with pytest.raises(LinkError):
            await open_link(
                checking_broker.host,
                checking_broker.port,
                client_id=f"band-{credentials[0].serial}",
                username=credentials[0].serial,
                password="wrong",
                on_message=lambda _t, _p: None,
            )
    fleet = Fleet(credentials, host=harness.endpoint.host, port=harness.endpoint.port, topics=harness.topics, seed=1)
    await fleet.start()
    try:
        band = fleet.bands[0]
        fleet._downlink(band, harness.topics.downlink(band.serial, "config"), b'{"v":1,"heartbeat_interval_s":42}')
        assert band.heartbeat_interval_s == 42
    finally:
        await fleet.stop()


async def test_secrets_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bands.tsv"
    write_secrets(path, [BandCredentials("SIM-000001", "s3cret")])
    assert read_secrets(path) == [BandCredentials("SIM-000001", "s3cret")]
    assert path.stat().st_mode & 0o777 == 0o600


async def test_opaska_simulate_scenario_provisions_once_and_reports(
    harness: GatewayHarness,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from core.settings import load_settings
    from simulator.cli import simulate_fleet

    monkeypatch.setenv("OPASKA_DATABASE_URL", database_url)
    monkeypatch.setenv("OPASKA_MQTT_TOPIC_ROOT", harness.topics.root)
    settings = load_settings()
    secrets = tmp_path / "fleet.tsv"
    report = tmp_path / "report.json"
    arguments = {
        "scenario": "sos_storm",
        "bands": 2,
        "seed": 3,
        "duration_s": 2.0,
        "broker": f"mqtt://{harness.endpoint.host}:{harness.endpoint.port}",
        "prefix": f"CLI{uuid.uuid4().hex[:4]}",
        "secrets_file": str(secrets),
        "heartbeat_interval_s": 1.0,
        "mosquitto_files": str(tmp_path / "auth"),
        "json_out": str(report),
    }
    async with harness.gateway():
        assert await simulate_fleet(settings, **arguments) == 0  # type: ignore[arg-type]
        assert "2 simulated bands registered" in capsys.readouterr().out
        assert len(read_secrets(secrets)) == 2
        assert (tmp_path / "auth" / "passwords").exists()
        # Again: the same bands, from the secrets file, no second registration.
        assert await simulate_fleet(settings, **{**arguments, "mosquitto_files": None}) == 0  # type: ignore[arg-type]
        assert "registered" not in capsys.readouterr().out
    assert json.loads(report.read_text())["stats"]["alarms_acknowledged"] == 2
    assert len(await _alarms(harness.sessions)) == 2
