"""Bands behind ingress adapters, for tests: registered as a technician would; the watch
receiver and the Traccar adapter running beside a test's gateway; a real TCP watch client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.mqtt.endpoint import MqttEndpoint
from core.settings import TraccarSettings, WatchSettings
from gateway.broker.acl import platform_client_id
from gateway.ingress.directory import DeviceDirectory
from gateway.ingress.traccar_client import TraccarIngress
from gateway.ingress.watch_server import WatchServer
from gateway.runner import Gateway
from registry import service


@dataclass(frozen=True)
class AdapterBand:
    serial: str
    band_id: int
    device_id: str


async def register_adapter_band(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, adapter: str, device_id: str
) -> AdapterBand:
    """A resident wearing a band that reaches us through `adapter`, known there as `device_id`."""
    async with sessions() as session, session.begin():
        municipality = await service.create_municipality(session, clock, code=f"m-{uuid.uuid4().hex[:6]}", name="Gmina")
        resident = await service.create_resident(
            session, clock, municipality_id=municipality.id, first_name="Jan", last_name="Nowak", address="ul. Długa 1"
        )
        registered = await service.register_band(
            session, clock, adapter=adapter, device_id=device_id, model="test watch", resident_id=resident.id
        )
        return AdapterBand(registered.band.serial, registered.band.id, device_id)


def ingress_count(adapter: str, result: str) -> float:
    return REGISTRY.get_sample_value("opaska_ingress_messages_total", {"adapter": adapter, "result": result}) or 0.0


@contextlib.asynccontextmanager
async def running_watch_server(
    gateway: Gateway, sessions: async_sessionmaker[AsyncSession], **overrides: object
) -> AsyncIterator[WatchServer]:
    settings = WatchSettings.model_validate({"host": "127.0.0.1", "port": 0, "strap_alarm": False, **overrides})
    server = WatchServer(settings, gateway, DeviceDirectory(sessions, "watch"))
    await server.start()
    task = asyncio.create_task(server.run())
    try:
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class WatchClient:
    """A watch on a real TCP connection: sends frames as bytes, reads what the receiver answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> WatchClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            return await self.reader.readuntil(b"]")

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True once the receiver has closed the connection (it aborts: a reset counts)."""
        async with asyncio.timeout(timeout):
            try:
                return await self.reader.read() == b""
            except ConnectionResetError:
                return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def running_traccar_ingress(
    gateway: Gateway,
    sessions: async_sessionmaker[AsyncSession],
    *,
    endpoint: MqttEndpoint,
    topic_root: str,
    client_prefix: str,
    protocol: str,
) -> AsyncIterator[TraccarIngress]:
    ingress = TraccarIngress(
        TraccarSettings(enabled=True),
        gateway,
        DeviceDirectory(sessions, "traccar"),
        endpoint=endpoint,
        topic_root=topic_root,
        client_id=platform_client_id(client_prefix, "traccar"),
        protocol=protocol,
        session_expiry_s=60,
        keepalive_s=10,
    )
    await ingress.connect()
    task = asyncio.create_task(ingress.run())
    try:
        yield ingress
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ingress.close()
