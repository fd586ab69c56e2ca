"""The walking skeleton, end to end: a band's SOS over MQTT reaches an operator's WebSocket.

opaska runs as a real process (real uvicorn, real gateway, the embedded broker or the configured
one); the band is a real MQTT client; the operator is a real WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.mqtt.endpoint import MqttEndpoint
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand
from simulator.lab.processes import wait_healthy
from simulator.lab.staff import create_staff, log_in
from tests.conftest import TEST_MQTT_URL
from tests.support.processes import opaska_process, platform_process_setup
from tests.support.seed import seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _next_alarm_event(ws: Any, kind: str, timeout: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "alarm_event" and message["alarm"]["kind"] == kind:
                return message


async def test_sos_reaches_operator_websocket(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Wiśniewska")
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    setup = platform_process_setup(database_url, topics.root, client_prefix)
    env, endpoint_url = setup.env, setup.broker_url
    log_path = tmp_path / "opaska-run.log"
    base = setup.console_url
    live_url = base.replace("http://", "ws://") + "/ws/live"

    with opaska_process(["run"], env, log_path) as process:
        await wait_healthy(base, process, log_path)
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok", "notifier": "outbox", "test_mode": True}
            assert (await http.get("/api/alarms")).status_code == 401
            login = await log_in(http, operator)
            assert (await http.get("/api/alarms")).json() == []

        async with websockets.connect(live_url, additional_headers=login.cookie_header) as ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            assert snapshot["alarms"] == []

            from core.mqtt.endpoint import parse_mqtt_url

            endpoint: MqttEndpoint = parse_mqtt_url(endpoint_url)
            band = VirtualBand(
                endpoint,
                topics,
                seeded.serial,
                password=seeded.secret,
                protocol="5" if TEST_MQTT_URL else "3.1.1",
                repeat=RepeatPolicy(3, 10),
            )
            await band.start()
            try:
                acknowledged = await band.press("sos", timeout=20)
                event = await _next_alarm_event(ws, "sos")
            finally:
                await band.stop()

        alarm = event["alarm"]
        assert event["event"]["type"] == "raised"
        assert alarm["id"] == acknowledged["alarm_id"]
        assert alarm["status"] == "raised"
        assert alarm["band_serial"] == seeded.serial
        assert alarm["resident"]["first_name"] == "Zofia"
        assert alarm["resident"]["last_name"] == "Wiśniewska"
        assert alarm["municipality"] == "Gmina Testowa"

        # A console that connects now gets the open alarm in its snapshot (re-sync after a reconnect).
        async with websockets.connect(live_url, additional_headers=login.cookie_header) as ws:
            snapshot = json.loads(await ws.recv())
            assert [a["id"] for a in snapshot["alarms"]] == [alarm["id"]]
        # Without the login cookie the live feed does not open.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(live_url):
                pass
        assert refused.value.response.status_code == 403
        async with httpx.AsyncClient() as http:
            # The queue page asks for a login first; logged in, it is served.
            page = await http.get(f"{base}/")
            assert (page.status_code, page.headers["location"]) == (303, "/login?next=/")
            page = await http.get(f"{base}/", headers=login.cookie_header)
            assert page.status_code == 200
            assert "Alarmy techniczne" in page.text
