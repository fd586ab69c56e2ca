"""The downlink outbox: every row reaches the band once, also with two gateways sending at once."""

import asyncio
import json
import uuid

import pytest
from sqlalchemy import func, select

from core.mqtt.client import AsyncMqttClient, IncomingMessage
from gateway.downlink import DownlinkSender
from registry.model import Band
from registry.traffic import downlinks as downlink
from registry.traffic.downlinks import BandDownlink
from tests.support.gateway import GatewayHarness, eventually
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

ROWS = 30


async def test_each_row_is_sent_once(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        band = (await session.execute(select(Band).where(Band.id == seeded.band_id))).scalar_one()
        for _ in range(ROWS):
            await downlink.request_location(session, clock, band=band)
        postgres = session.get_bind().dialect.name == "postgresql"

    heard: list[int] = []

    def on_message(message: IncomingMessage) -> None:
        heard.append(json.loads(message.payload)["id"])

    protocol = "5" if harness.protocol == "5" else "3.1.1"
    band_client = AsyncMqttClient(
        harness.endpoint,
        client_id=f"band-{seeded.serial}",
        username=seeded.serial,
        password=seeded.secret,
        protocol=protocol,
        on_message=on_message,
    )
    await band_client.connect()
    await band_client.subscribe([(harness.topics.downlink_filter(seeded.serial), 1)])
    # Two gateways on PostgreSQL (SKIP LOCKED keeps them apart); SQLite runs one gateway.
    senders: list[AsyncMqttClient] = []
    for _ in range(2 if postgres else 1):
        client = AsyncMqttClient(
            harness.endpoint, client_id=f"{harness.client_prefix}-gw-{uuid.uuid4().hex[:6]}", protocol=protocol
        )
        await client.connect()
        senders.append(client)
    try:
        await asyncio.gather(
            *(DownlinkSender(sessions, client, harness.topics, clock).send_pending() for client in senders)
        )

        async def all_heard() -> bool:
            return len(heard) >= ROWS

        await eventually(all_heard)
        await asyncio.sleep(0.5)  # room for a duplicate to show
    finally:
        for client in [band_client, *senders]:
            await client.disconnect()
    assert sorted(heard) == sorted(set(heard))
    assert len(heard) == ROWS
    async with sessions() as session:
        unsent = select(func.count()).select_from(BandDownlink).where(BandDownlink.sent_at.is_(None))
        assert (await session.execute(unsent)).scalar_one() == 0
