"""Traccar as a protocol front end: its EventData and PositionData JSON (tests/data/traccar_json.py,
shaped from Traccar's source) published over real MQTT, taken by the real gateway into the database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.mqtt.client import AsyncMqttClient
from gateway.ingress.traccar import Mapped, Refused, decode_json, map_traccar
from gateway.runner import Gateway
from registry.model import Band
from registry.traffic.messages import BandMessage
from tests.data import traccar_json as tj
from tests.support.adapters import AdapterBand, ingress_count, register_adapter_band, running_traccar_ingress
from tests.support.gateway import GatewayHarness, eventually

NOW = datetime(2026, 12, 3, 7, 30, 5, tzinfo=UTC)
FIX = "2026-12-03T07:30:00.000+00:00"


def _mapped(data: dict[str, Any]) -> Mapped:
    result = map_traccar(data, received_at=NOW)
    assert isinstance(result, Mapped)
    return result


def _kinds(data: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.payload.get("msg_id")) for e in _mapped(data).events]


# ---- mapping, no I/O ---------------------------------------------------------------------------


def test_each_traccar_alarm_maps_to_its_band_message() -> None:
    key = "20261203T073000.000"
    assert _kinds(tj.alarm_event("Q1", "sos")) == [("sos", f"t:sos:{key}")]
    assert _kinds(tj.alarm_event("Q1", "fallDown")) == [("fall", f"t:fall:{key}")]
    assert _kinds(tj.alarm_event("Q1", "removing")) == [("strap", f"t:strap:{key}")]
    assert _kinds(tj.alarm_event("Q1", "lowBattery")) == [("battery_low", f"t:battery_low:{key}")]
    assert _kinds(tj.alarm_event("Q1", "lowPower")) == [("battery_low", f"t:battery_low:{key}")]
    # Several alarms in one position: SOS first; lowBattery and lowPower are one warning.
    assert [k for k, _ in _kinds(tj.alarm_event("Q1", "lowBattery,lowPower,sos,geofenceExit"))] == [
        "sos",
        "battery_low",
    ]
    sos = _mapped(tj.alarm_event("Q1", "sos")).events[0].payload
    assert sos["location"] == {"lat": 51.1079, "lon": 17.0385, "source": "gps", "accuracy_m": 12.0}
    assert (sos["battery"], sos["ts"]) == (64, "2026-12-03T07:30:00+00:00")
    assert _mapped(tj.alarm_event("Q1", "lowBattery", batteryLevel=12)).events[0].payload["battery"] == 12
    online = _mapped(tj.status_event("Q1", "deviceOnline"))
    assert [(e.kind, e.payload["online"]) for e in online.events] == [("status", True)]
    assert online.heard
    offline = _mapped(tj.status_event("Q1", "deviceOffline"))
    assert [(e.kind, e.payload["online"]) for e in offline.events] == [("status", False)]
    assert not offline.heard


def test_a_forwarded_position_carries_presence_and_its_alarm() -> None:
    plain = _mapped(tj.position_data("Q1", batteryLevel=77, charge=True))
    assert [(e.kind, e.payload.get("battery"), e.payload.get("charging")) for e in plain.events] == [
        ("location", None, None),
        ("heartbeat", 77, True),
    ]
    assert plain.heard
    # The same alarm as an event and inside a position: one message id, so one alarm.
    event_ids = {e.payload["msg_id"] for e in _mapped(tj.alarm_event("Q1", "sos")).events}
    position_ids = {e.payload["msg_id"] for e in _mapped(tj.position_data("Q1", alarm="sos")).events}
    assert event_ids <= position_ids


def test_unseen_shapes_are_ignored_with_a_reason() -> None:
    assert decode_json(b"\xff not json") == Refused("malformed", decode_json(b"\xff not json").detail)  # type: ignore[union-attr]
    assert isinstance(decode_json(b"[1, 2]"), Refused)
    assert map_traccar({"event": {"type": "alarm"}}, received_at=NOW) == Refused("no_device", "no device.uniqueId")
    assert isinstance(map_traccar({"device": {"uniqueId": "Q1"}, "event": "sos"}, received_at=NOW), Refused)
    assert isinstance(map_traccar({"device": {"uniqueId": "Q1"}, "version": 7}, received_at=NOW), Refused)
    future = tj.alarm_event("Q1", "sos")
    future["event"]["severity"] = {"level": 3}  # a field of a version we have not seen: ignored
    future["schema"] = "traccar/7"
    assert _kinds(future) == _kinds(tj.alarm_event("Q1", "sos"))
    moving = tj.status_event("Q1", "deviceMoving")
    assert _mapped(moving).events == []
    assert _mapped(moving).ignored == ["event_type"]
    # An alarm event that does not say which alarm: an SOS, flagged.
    bare = tj.alarm_event("Q1", "sos")
    bare["event"]["attributes"] = {}
    bare["position"]["attributes"].pop("alarm")
    (event,) = [e for e in _mapped(bare).events if e.kind == "sos"]
    assert event.problems == ("Traccar alarm event without attributes.alarm",)


# ---- over real MQTT ----------------------------------------------------------------------------


class Traccar:
    """Publishes what Traccar's MQTT forwarders publish, on the topics a centre configures."""

    def __init__(self, client: AsyncMqttClient, root: str) -> None:
        self._client, self._root = client, root

    async def event(self, data: dict[str, Any] | bytes) -> None:
        await self._publish(f"{self._root}/traccar/events", data)

    async def position(self, data: dict[str, Any] | bytes) -> None:
        await self._publish(f"{self._root}/traccar/positions", data)

    async def _publish(self, topic: str, data: dict[str, Any] | bytes) -> None:
        payload = data if isinstance(data, bytes) else json.dumps(data).encode()
        await self._client.publish(topic, payload, qos=1)


@pytest_asyncio.fixture
async def traccar(harness: GatewayHarness) -> AsyncIterator[Traccar]:
    client = AsyncMqttClient(
        harness.endpoint,
        client_id=f"{harness.client_prefix}-traccar-server-{uuid.uuid4().hex[:6]}",
        protocol="5" if harness.protocol == "5" else "3.1.1",
    )
    await client.connect()
    try:
        yield Traccar(client, harness.topics.root)
    finally:
        await client.disconnect()


async def _alarms(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> list[Alarm]:
    async with sessions() as session:
        return list((await session.execute(select(Alarm).where(Alarm.band_id == band.band_id))).scalars())


async def _band(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> Band:
    async with sessions() as session:
        found = await session.get(Band, band.band_id)
        assert found is not None
        return found


async def _messages(sessions: async_sessionmaker[AsyncSession], band: AdapterBand, kind: str) -> list[BandMessage]:
    async with sessions() as session:
        query = select(BandMessage).where(BandMessage.band_id == band.band_id, BandMessage.kind == kind)
        return list((await session.execute(query)).scalars())


def _adapter(harness: GatewayHarness, gateway: Gateway) -> Any:
    return running_traccar_ingress(
        gateway,
        harness.sessions,
        endpoint=harness.endpoint,
        topic_root=harness.topics.root,
        client_prefix=harness.client_prefix,
        protocol=harness.protocol,
    )


@pytest.mark.asyncio
async def test_traccar_alarms_over_mqtt_raise_alarms_once(harness: GatewayHarness, traccar: Traccar) -> None:
    sessions, clock = harness.sessions, harness.clock
    helena = await register_adapter_band(sessions, clock, adapter="traccar", device_id="867584031234560")
    jan = await register_adapter_band(sessions, clock, adapter="traccar", device_id="tracker-jan")
    async with harness.gateway() as gateway, _adapter(harness, gateway):
        duplicates_before = gateway.tally["duplicate"]
        await traccar.event(tj.alarm_event("867584031234560", "sos"))
        # The same SOS again: in the forwarded position, and as the event redelivered.
        await traccar.position(tj.position_data("867584031234560", alarm="sos"))
        await traccar.event(tj.alarm_event("867584031234560", "sos"))
        await traccar.event(tj.alarm_event("tracker-jan", "fallDown", event_id=777))

        async def settled() -> bool:
            return gateway.tally["duplicate"] - duplicates_before >= 2 and bool(await _alarms(sessions, jan))

        await eventually(settled)
        assert [a.kind for a in await _alarms(sessions, helena)] == ["sos"]
        assert [a.kind for a in await _alarms(sessions, jan)] == ["fall"]
        (stored,) = await _messages(sessions, helena, "sos")
        assert stored.message_id == "t:sos:20261203T073000.000"
        assert stored.payload["source"] == {
            "adapter": "traccar",
            "uniqueId": "867584031234560",
            "event_id": 501,
            "event_type": "alarm",
            "position_id": 1001,
        }
        assert stored.payload["location"]["lat"] == 51.1079
        # A new press is a new fix time: a second SOS, merged into the open one (never lost).
        await traccar.event(
            tj.alarm_event("867584031234560", "sos", event_id=503, fix_time="2026-12-03T07:32:00.000+00:00")
        )
        await eventually(lambda: _count_messages(sessions, helena, "sos", 2))
        assert len(await _alarms(sessions, helena)) == 1


async def _count_messages(sessions: async_sessionmaker[AsyncSession], band: AdapterBand, kind: str, n: int) -> bool:
    return len(await _messages(sessions, band, kind)) == n


@pytest.mark.asyncio
async def test_traccar_presence_battery_strap_and_status(harness: GatewayHarness, traccar: Traccar) -> None:
    sessions = harness.sessions
    band = await register_adapter_band(sessions, harness.clock, adapter="traccar", device_id="Q50-0001")
    async with harness.gateway() as gateway, _adapter(harness, gateway):
        await traccar.position(tj.position_data("Q50-0001", batteryLevel=77))
        await traccar.event(tj.status_event("Q50-0001", "deviceOnline"))

        async def present() -> bool:
            row = await _band(sessions, band)
            return row.battery_pct == 77 and row.online is True and row.last_location is not None

        await eventually(present)
        await traccar.event(tj.alarm_event("Q50-0001", "removing", event_id=601, batteryLevel=11))
        await traccar.event(tj.alarm_event("Q50-0001", "lowBattery", event_id=602, batteryLevel=11))
        await traccar.event(tj.status_event("Q50-0001", "deviceOffline", event_id=603))

        async def changed() -> bool:
            row = await _band(sessions, band)
            return row.worn is False and row.battery_pct == 11 and row.online is False

        await eventually(changed)
        assert await _alarms(sessions, band) == []  # technical alarms are supervision's, later


@pytest.mark.asyncio
async def test_unknown_devices_and_unseen_json_are_counted_and_never_stall(
    harness: GatewayHarness, traccar: Traccar
) -> None:
    sessions = harness.sessions
    band = await register_adapter_band(sessions, harness.clock, adapter="traccar", device_id="Q50-0002")
    counts = {
        r: ingress_count("traccar", r) for r in ("refused_unknown_device", "refused_malformed", "refused_no_device")
    }
    async with harness.gateway() as gateway, _adapter(harness, gateway):
        await traccar.event(tj.alarm_event("nobody-registered-this", "sos"))
        await traccar.event(b"\x00\x01 not json")
        await traccar.event(b'{"event": "sos", "device": {"uniqueId": "Q50-0002"}}')
        await traccar.event(b'{"v": 7, "alarm": "sos"}')
        await traccar.event(tj.alarm_event("Q50-0002", "sos"))
        await eventually(lambda: _has_alarm(sessions, band))
        assert ingress_count("traccar", "refused_unknown_device") == counts["refused_unknown_device"] + 1
        assert ingress_count("traccar", "refused_malformed") == counts["refused_malformed"] + 2
        assert ingress_count("traccar", "refused_no_device") == counts["refused_no_device"] + 1


async def _has_alarm(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> bool:
    return bool(await _alarms(sessions, band))
