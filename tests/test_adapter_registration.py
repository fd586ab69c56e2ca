"""Registering a band that reaches opaska through an adapter: the registry service, the console's
registry API and what they refuse (a watch IMEI failing its Luhn check, a device id taken twice)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from registry import service
from registry.errors import Duplicate, RegistryError
from registry.identifiers import check_device_id
from simulator.lab.staff import create_staff, log_in


def test_device_identity_rules() -> None:
    assert check_device_id("mqtt", None) is None
    assert check_device_id("watch", " 352661090143150 ") == "352661090143150"
    assert check_device_id("watch", "8800000015") == "8800000015"
    assert check_device_id("watch", None, imei="352661090143150") == "352661090143150"
    assert check_device_id("traccar", "tracker jan") == "tracker jan"
    for adapter, raw, field in (
        ("watch", "358839237678820", "imei"),  # 15 digits: an IMEI, and its check digit is wrong
        ("watch", "88*15", "device_id"),
        ("watch", None, "device_id"),
        ("traccar", "x" * 65, "device_id"),
        ("mqtt", "8800000015", "device_id"),
        ("lora", "1", "adapter"),
    ):
        with pytest.raises(RegistryError) as refused:
            check_device_id(adapter, raw)
        assert refused.value.field == field, (adapter, raw)


@pytest.mark.asyncio
async def test_one_band_per_device_identity(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessions() as session, session.begin():
        watch = await service.register_band(session, clock, adapter="watch", device_id="8800000015")
        assert (watch.band.serial, watch.band.adapter, watch.band.device_id) == ("8800000015", "watch", "8800000015")
        assert watch.secret == ""
        assert watch.band.secret_hash is None  # never logs in to the broker
        # The same id at another adapter is another device.
        await service.register_band(session, clock, adapter="traccar", device_id="8800000015", serial="T-0015")
        with pytest.raises(Duplicate) as twice:
            await service.register_band(session, clock, adapter="watch", device_id="8800000015", serial="W-2")
        assert twice.value.field == "device_id"
        mqtt = await service.register_band(session, clock, serial="OP-1")
        assert (mqtt.band.adapter, mqtt.band.device_id) == ("mqtt", None)
        assert mqtt.secret


@pytest.mark.asyncio
async def test_console_registers_a_watch(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessions() as session, session.begin():
        municipality = await service.create_municipality(session, clock, code="m-watch", name="Gmina")
    technician = await create_staff(sessions, clock, role="technician", municipality_ids=[municipality.id])
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, technician)
        created = await http.post(
            "/api/registry/bands", json={"adapter": "watch", "imei": "352661090143150", "model": "Q50"}
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        assert body["secret"] == ""
        assert (body["band"]["serial"], body["band"]["adapter"], body["band"]["device_id"]) == (
            "352661090143150",
            "watch",
            "352661090143150",
        )
        assert body["band"]["has_credentials"] is False
        again = await http.post("/api/registry/bands", json={"adapter": "watch", "device_id": "352661090143150"})
        assert again.status_code == 409
        bad = await http.post("/api/registry/bands", json={"adapter": "watch", "device_id": "358839237678820"})
        assert bad.status_code == 422
        unknown = await http.post("/api/registry/bands", json={"adapter": "lora", "device_id": "1"})
        assert unknown.status_code == 422
