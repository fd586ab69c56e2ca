"""Running the real gateway in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.mqtt.endpoint import MqttEndpoint
from core.settings import AlarmSettings
from gateway.broker.acl import platform_client_id
from gateway.runner import Gateway
from gateway.stored import AlarmStored
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand


@contextlib.asynccontextmanager
async def running_gateway(
    *,
    endpoint: MqttEndpoint,
    topics: TopicScheme,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    client_prefix: str,
    protocol: str,
    stored: list[AlarmStored] | None = None,
    alarms: AlarmSettings | None = None,
    canary_every_s: float = 5.0,
    canary_deaf_after_s: float = 20.0,
    name: str = "gateway",
    shared_group: str = "",
) -> AsyncIterator[Gateway]:
    gateway = Gateway(
        endpoint=endpoint,
        topics=topics,
        session_factory=sessions,
        clock=clock,
        client_id=platform_client_id(client_prefix, name),
        protocol=protocol,
        session_expiry_s=60,
        keepalive_s=10,
        alarms=alarms,
        on_alarm_stored=stored.append if stored is not None else None,
        canary_every_s=canary_every_s,
        canary_deaf_after_s=canary_deaf_after_s,
        shared_group=shared_group,
    )
    await gateway.connect()
    task = asyncio.create_task(gateway.run())
    try:
        yield gateway
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await gateway.close()


async def eventually(check: object, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Wait until `await check()` is truthy."""
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(interval)


@dataclass
class GatewayHarness:
    """Everything a gateway test needs, so each test says only what it does."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    endpoint: MqttEndpoint
    topics: TopicScheme
    client_prefix: str
    protocol: str

    def gateway(
        self, stored: list[AlarmStored] | None = None, alarms: AlarmSettings | None = None
    ) -> contextlib.AbstractAsyncContextManager[Gateway]:
        return running_gateway(
            endpoint=self.endpoint,
            topics=self.topics,
            sessions=self.sessions,
            clock=self.clock,
            client_prefix=self.client_prefix,
            protocol=self.protocol,
            stored=stored,
            alarms=alarms,
        )

    def band(self, serial: str, secret: str, repeat: RepeatPolicy | None = None) -> VirtualBand:
        return VirtualBand(
            self.endpoint,
            self.topics,
            serial,
            password=secret,
            protocol="5" if self.protocol == "5" else "3.1.1",
            repeat=repeat or RepeatPolicy(2, 5),
        )
