"""Every kind of the band protocol, through a real broker and the real gateway, into the database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.model import Alarm, AlarmEvent
from core.mqtt.client import AsyncMqttClient
from core.settings import AlarmSettings, BandSettings
from gateway.judge import ALL_REASONS
from gateway.runner import Gateway
from registry.model import Band
from registry.traffic import downlinks as downlink
from registry.traffic.dead_letters import recent_dead_letters
from registry.traffic.downlinks import BandDownlink
from registry.traffic.messages import BandMessage
from simulator.lab.staff import create_staff
from tests.support.gateway import GatewayHarness, eventually
from tests.support.require import need_program
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _body(**fields: Any) -> bytes:
    return json.dumps({"v": 1, "msg_id": uuid.uuid4().hex[:16], "ts": _now_iso(), **fields}).encode()


async def _band_row(sessions: async_sessionmaker[AsyncSession], band_id: int) -> Band:
    async with sessions() as session:
        return (await session.execute(select(Band).where(Band.id == band_id))).scalar_one()


async def _service_client(harness: GatewayHarness) -> AsyncMqttClient:
    """The platform's own account: on an ACL'd broker the only one that may publish on any band's topic."""
    client = AsyncMqttClient(
        harness.endpoint,
        client_id=f"{harness.client_prefix}-svc-{uuid.uuid4().hex[:6]}",
        protocol="5" if harness.protocol == "5" else "3.1.1",
    )
    await client.connect()
    return client


async def _all_settled(gateway: Gateway, expected: int) -> None:
    async def settled() -> bool:
        return gateway.received >= expected and sum(gateway.tally.values()) == gateway.received

    await eventually(settled, timeout=15)


async def test_each_report_kind_updates_the_band(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway() as gateway:
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            band.state.battery, band.state.worn = 64, True
            await band.heartbeat()
            await band.strap(on=False)
            await band.report_location()
            await band.checkin()
            band.state.battery = 14
            await band.battery_low()
            # 5 reports plus the band's retained "online" status.
            await _all_settled(gateway, 6)
            assert gateway.tally == {"accepted": 6}

            row = await _band_row(sessions, seeded.band_id)
            assert (row.battery_pct, row.worn, row.online) == (14, False, True)
            assert row.unworn_since == clock.now()
            assert row.last_checkin_at == clock.now()
            assert row.last_location is not None
            assert (row.last_location["lat"], row.last_location["source"]) == (band.state.lat, "gps")
            async with sessions() as session:
                kinds = sorted((await session.execute(select(BandMessage.kind))).scalars())
            # Rarer reports are kept as the band's history; heartbeats only update presence.
            assert kinds == ["battery_low", "checkin", "location", "strap"]

            clock.advance(60)
            await band.strap(on=True)
            await _all_settled(gateway, 7)
            row = await _band_row(sessions, seeded.band_id)
            assert (row.worn, row.unworn_since) == (True, None)
        finally:
            await band.stop()


async def test_band_last_will_marks_it_offline(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway():
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"band-{seeded.serial}")
        client.username_pw_set(seeded.serial, seeded.secret)
        status = harness.topics.status(seeded.serial)
        client.will_set(status, b'{"v":1,"online":false}', qos=1, retain=True)
        await asyncio.to_thread(client.connect, harness.endpoint.host, harness.endpoint.port)
        client.loop_start()
        await asyncio.to_thread(
            client.publish(status, b'{"v":1,"online":true}', qos=1, retain=True).wait_for_publish, 10
        )

        async def online_is(value: bool) -> bool:
            return (await _band_row(sessions, seeded.band_id)).online is value

        await eventually(lambda: online_is(True))
        # The band's battery dies: its connection drops without a DISCONNECT, the broker sends the will.
        client.loop_stop()
        sock = client.socket()
        assert sock is not None
        sock.close()
        await eventually(lambda: online_is(False), timeout=15)


async def _alarm(sessions: async_sessionmaker[AsyncSession], alarm_id: int) -> Alarm:
    async with sessions() as session:
        return (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()


async def _event_types(sessions: async_sessionmaker[AsyncSession], alarm_id: int) -> list[str]:
    async with sessions() as session:
        query = select(AlarmEvent.type).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
        return list((await session.execute(query)).scalars())


async def test_fall_cancelled_by_the_resident_within_the_window(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway():
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            fall = await band.press("fall", {"confidence": 0.92}, timeout=15)
            clock.advance(10)
            cancelled = await band.cancel_fall(timeout=15)
            assert cancelled["alarm_id"] == fall["alarm_id"]
            alarm = await _alarm(sessions, fall["alarm_id"])
            assert (alarm.status, alarm.outcome) == ("cancelled", "cancelled_by_resident")
            assert await _event_types(sessions, alarm.id) == ["raised", "cancelled"]
        finally:
            await band.stop()


async def test_fall_cancel_awaits_an_operators_call_when_the_centre_wants_it(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway(alarms=AlarmSettings(cancel_needs_verification=True)):
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            fall = await band.press("fall", timeout=15)
            await band.cancel_fall(timeout=15)
        finally:
            await band.stop()
    alarm = await _alarm(sessions, fall["alarm_id"])
    assert alarm.status == "raised"
    assert (await _event_types(sessions, alarm.id))[-1] == "cancel_requested"


async def test_claimed_fall_is_not_cancelled_and_the_band_hears_help_is_coming(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    staff_id = (await create_staff(sessions, clock, municipality_ids=[seeded.municipality_id])).id
    async with harness.gateway():
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            fall = await band.press("fall", timeout=15)
            async with sessions() as session, session.begin():
                await claim_alarm(session, clock, alarm_id=fall["alarm_id"], staff_id=staff_id)

            async def claimed_heard() -> bool:
                return bool(band.received("alarm_claimed"))

            await eventually(claimed_heard)
            heard = band.received("alarm_claimed")[0]
            assert (heard["alarm_id"], heard["kind"], heard["msg_id"]) == (fall["alarm_id"], "fall", band.sent[0][1])

            await band.cancel_fall(timeout=15)
            alarm = await _alarm(sessions, fall["alarm_id"])
            assert alarm.status == "claimed"
            assert await _event_types(sessions, alarm.id) == ["raised", "claimed", "cancel_requested"]
        finally:
            await band.stop()


async def test_config_is_retained_and_locate_is_answered(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway():
        async with sessions() as session, session.begin():
            row = (await session.execute(select(Band).where(Band.id == seeded.band_id))).scalar_one()
            row.heartbeat_interval_s = 120
            await downlink.push_config(session, clock, band=row, defaults=BandSettings())

        async def config_sent() -> bool:
            async with sessions() as session:
                return await _sent_downlinks(session) == 1

        await eventually(config_sent)
        # The band connects after the config went out: the broker kept it for it (retained).
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:

            async def configured() -> bool:
                return band.state.heartbeat_interval_s == 120

            await eventually(configured)
            async with sessions() as session, session.begin():
                row = (await session.execute(select(Band).where(Band.id == seeded.band_id))).scalar_one()
                request_id = await downlink.request_location(session, clock, band=row)

            async def located() -> bool:
                location = (await _band_row(sessions, seeded.band_id)).last_location
                return location is not None

            await eventually(located)
            async with sessions() as session:
                payload = (await session.execute(select(BandMessage.payload))).scalar_one()
            assert (payload["reason"], payload["request_id"]) == ("locate", request_id)
        finally:
            await band.stop()


async def _sent_downlinks(session: AsyncSession) -> int:
    query = select(func.count()).select_from(BandDownlink).where(BandDownlink.sent_at.is_not(None))
    return int((await session.execute(query)).scalar_one())


def _rejected(kind: str, reason: str) -> float:
    labels = {"kind": kind, "result": f"rejected_{reason}"}
    return REGISTRY.get_sample_value("opaska_band_messages_total", labels) or 0.0


async def test_every_reject_reason_is_counted_logged_and_kept(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    topics, serial = harness.topics, seeded.serial
    heartbeat = topics.uplink(serial, "heartbeat")
    cases: list[tuple[str, str, str, bytes]] = [
        ("bad_topic", "other", topics.uplink(serial, "heartbeat") + "/extra", _body(battery=50)),
        ("unknown_kind", "other", topics.uplink(serial, "teleport"), _body()),
        ("too_large", "heartbeat", heartbeat, _body(battery=50, pad="x" * 5000)),
        ("malformed", "heartbeat", heartbeat, b"\xff not json"),
        ("invalid", "heartbeat", heartbeat, _body(battery="full")),
        ("band_mismatch", "heartbeat", heartbeat, _body(battery=50, band="SOMEONE-ELSE")),
        ("clock", "heartbeat", heartbeat, _body(battery=50, ts=(datetime.now(UTC) + timedelta(hours=3)).isoformat())),
        ("unknown_band", "heartbeat", topics.uplink("NOBODY-1", "heartbeat"), _body(battery=50)),
    ]
    assert sorted(reason for reason, *_ in cases) == sorted(ALL_REASONS)
    before = {reason: _rejected(kind, reason) for reason, kind, *_ in cases}
    async with harness.gateway() as gateway:
        client = await _service_client(harness)
        try:
            for _, _, topic, raw in cases:
                await client.publish(topic, raw, qos=1)
            await _all_settled(gateway, len(cases))
        finally:
            await client.disconnect()
        assert gateway.tally == {"rejected": len(cases)}

        async def all_kept() -> bool:
            async with sessions() as session:
                return len(await recent_dead_letters(session)) == len(cases)

        await eventually(all_kept)
    for reason, kind, *_ in cases:
        assert _rejected(kind, reason) == before[reason] + 1, reason
    async with sessions() as session:
        letters = {letter.reason: letter for letter in await recent_dead_letters(session)}
        assert set(letters) == set(ALL_REASONS)
        assert letters["malformed"].payload.endswith("not json")
        assert len(letters["too_large"].payload) <= 1024
        assert letters["unknown_band"].band_serial == "NOBODY-1"
    # A refused message from a band's own topic still shows the band is alive.
    assert (await _band_row(sessions, seeded.band_id)).last_seen_at == clock.now()


async def test_sos_naming_another_band_is_raised_for_its_topic_and_flagged(
    harness: GatewayHarness, caplog: pytest.LogCaptureFixture
) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway() as gateway:
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            await band.press("sos", {"band": "SOMEONE-ELSE"}, timeout=15)
            await _all_settled(gateway, 2)
        finally:
            await band.stop()
    assert gateway.tally == {"accepted": 2}
    async with sessions() as session:
        alarm = (await session.execute(select(Alarm))).scalar_one()
        message = (await session.execute(select(BandMessage))).scalar_one()
    assert alarm.band_id == seeded.band_id
    assert message.malformed
    assert any("SECURITY" in r.getMessage() and "SOMEONE-ELSE" in r.getMessage() for r in caplog.records)


async def test_hostile_alarm_payloads_still_raise_alarms_and_never_stop_the_gateway(harness: GatewayHarness) -> None:
    """Deep nesting, and message ids no database takes (a lone surrogate; NUL, which PostgreSQL refuses)."""
    sessions, clock = harness.sessions, harness.clock
    hostile = [
        b'{"v":1,"msg_id":"x1","a":' + b"[" * 600 + b"]" * 600 + b"}",
        b'{"v":1,"msg_id":"\\ud800"}',
        b'{"v":1,"msg_id":"a\\u0000b"}',
    ]
    bands = [await seed_resident_with_band(sessions, clock) for _ in hostile]
    async with harness.gateway() as gateway:
        client = await _service_client(harness)
        try:
            for seeded, raw in zip(bands, hostile, strict=True):
                await client.publish(harness.topics.uplink(seeded.serial, "sos"), raw, qos=1)
            await _all_settled(gateway, len(hostile))
        finally:
            await client.disconnect()
        assert gateway.tally == {"accepted": len(hostile)}
        # And the gateway still serves a plain SOS.
        plain = await seed_resident_with_band(sessions, clock)
        band = harness.band(plain.serial, plain.secret)
        await band.start()
        try:
            await band.press("sos", timeout=15)
        finally:
            await band.stop()
    async with sessions() as session:
        alarmed = set((await session.execute(select(Alarm.band_id))).scalars())
    assert alarmed == {seeded.band_id for seeded in [*bands, plain]}


async def test_mosquitto_pub_heartbeat_is_accepted(harness: GatewayHarness) -> None:
    mosquitto_pub = need_program("mosquitto_pub")
    sessions, clock = harness.sessions, harness.clock
    seeded: SeededBand = await seed_resident_with_band(sessions, clock)
    async with harness.gateway() as gateway:
        command = [
            mosquitto_pub,
            *("-h", harness.endpoint.host, "-p", str(harness.endpoint.port)),
            *("-u", seeded.serial, "-P", seeded.secret, "-i", f"band-{seeded.serial}"),
            *("-q", "1", "-V", "mqttv311"),
            *("-t", harness.topics.uplink(seeded.serial, "heartbeat"), "-m", _body(battery=33, worn=True).decode()),
        ]
        result = await asyncio.to_thread(subprocess.run, command, capture_output=True, timeout=20, check=False)
        assert result.returncode == 0, result.stderr
        await _all_settled(gateway, 1)
    assert gateway.tally == {"accepted": 1}
    assert (await _band_row(sessions, seeded.band_id)).battery_pct == 33
