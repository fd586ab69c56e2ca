"""The gateway notices when the broker stops delivering to it, says so, and heals by reconnecting.

Deafness is made the way issue 16 found it: the embedded broker forgets who the gateway's
connection is (its rights gone, TCP and pings still fine), so nothing reaches it any more.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import replace

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.service_state import ServiceState
from core.mqtt.endpoint import parse_mqtt_url
from gateway.broker.acl import TopicRules, platform_client_id
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import EmbeddedBroker
from gateway.liveness import CANARY_PREFIX, EVERY_S
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand
from tests.support.gateway import eventually, running_gateway
from tests.support.require import free_port
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

SERVICE = "opaska-canary-service"


async def canary_row(sessions: async_sessionmaker[AsyncSession], name: str) -> ServiceState | None:
    async with sessions() as session:
        return await session.get(ServiceState, CANARY_PREFIX + name)


async def test_a_deaf_gateway_says_so_and_reconnects(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    topics = TopicScheme(f"t{uuid.uuid4().hex[:8]}/opaska/v1")
    password = secrets.token_urlsafe(16)
    broker = EmbeddedBroker(
        "127.0.0.1",
        free_port(),
        credentials=CredentialStore(sessions, service_username=SERVICE, service_password=password),
        rules=TopicRules(topics),
    )
    await broker.start()
    band = await seed_resident_with_band(sessions, clock)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    main_id = platform_client_id(prefix, "gateway")
    try:
        endpoint = replace(parse_mqtt_url(broker.url), username=SERVICE, password=password)
        async with running_gateway(
            endpoint=endpoint,
            topics=topics,
            sessions=sessions,
            clock=clock,
            client_prefix=prefix,
            protocol="3.1.1",
            canary_every_s=0.2,
            canary_deaf_after_s=1.5,
        ) as gateway:
            await asyncio.sleep(2.5)
            assert await gateway.broker_state() == "ok"  # the canary comes through: never "deaf" while fine

            # The broker keeps dropping the alarm lane's subscriptions, also after each of the
            # gateway's reconnects, for as long as this runs.
            deaf_before = REGISTRY.get_sample_value("opaska_gateway_deaf_episodes_total", {"lane": "alarm"}) or 0

            async def sabotage() -> None:
                # What amqtt did on a refused clean-session CONNECT with the gateway's client id:
                # the stored session loses its subscriptions while the connection stays up.
                amqtt = broker._broker  # the fault, injected into the broker's own state
                assert amqtt is not None
                while True:
                    stored = amqtt._sessions.get(main_id + "-alarms")
                    if stored is not None:
                        await amqtt._del_all_subscriptions(stored[0])
                    await asyncio.sleep(0.02)

            saboteur = asyncio.create_task(sabotage())
            try:

                async def deaf() -> bool:
                    return (await gateway.broker_state()).startswith("deaf: alarm lane heard no canary")

                await eventually(deaf, timeout=15)

                # The supervisor's page reads the gateway's canary row: deaf since when.
                async def recorded() -> bool:
                    row = await canary_row(sessions, main_id)
                    return row is not None and row.connected_since is not None

                await eventually(recorded, timeout=EVERY_S + 5)
            finally:
                saboteur.cancel()
            assert REGISTRY.get_sample_value("opaska_gateway_deaf_episodes_total", {"lane": "alarm"}) > deaf_before

            # It reconnected by itself (the broker knows it again) and hears its canary.
            async def healed() -> bool:
                return await gateway.broker_state() == "ok"

            await eventually(healed, timeout=10)

            async def cleared() -> bool:
                row = await canary_row(sessions, main_id)
                return row is not None and row.connected_since is None

            await eventually(cleared, timeout=EVERY_S + 5)

            # And alarms flow again.
            virtual = VirtualBand(
                replace(endpoint, username=None, password=None),
                topics,
                band.serial,
                password=band.secret,
                repeat=RepeatPolicy(first_s=1, max_s=2),
            )
            await virtual.start()
            try:
                answer = await virtual.press("sos", timeout=20)
            finally:
                await virtual.stop()
            assert answer.get("alarm_id")
    finally:
        await broker.stop()
