"""Nobody on the network may silence the alarm path by naming the platform's MQTT client ids (issue 16).

An attacker knows the gateway's client ids (they are in the source). On each broker opaska ships
for, CONNECTs with those ids are sent every way a stranger could: anonymous, clean and persistent
session, a wrong service password, a real band's own secret, on every listener. Each must be
refused, and none may disturb the gateway's own connections: afterwards 100 real bands press SOS
and every one gets `alarm_received`.

On amqtt 0.12.1 as shipped the first anonymous CONNECT deleted the gateway's session (clean
session) or took it over (persistent), and every later SOS was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.mqtt.client import AsyncMqttClient, MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from gateway.broker.acl import band_client_id, platform_client_id
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand
from simulator.provision import provision_fleet
from tests.conftest import embedded_test_broker
from tests.support.gateway import running_gateway
from tests.support.mosquitto import MosquittoProcess

pytestmark = [pytest.mark.asyncio, pytest.mark.faults]

BANDS = 100


@dataclass(frozen=True)
class Broker:
    kind: str
    service: MqttEndpoint  # the gateway's way in
    bands: MqttEndpoint  # the bands' way in (no credentials: each band gives its own)
    doors: tuple[MqttEndpoint, ...]  # every listener a stranger could try
    protocol: str


@contextlib.asynccontextmanager
async def broker_of(
    kind: str, sessions: async_sessionmaker[AsyncSession], topics: TopicScheme, workdir: Path
) -> AsyncIterator[Broker]:
    if kind == "embedded":
        async with embedded_test_broker(sessions, topics) as service:
            bands = replace(service, username=None, password=None)
            yield Broker(kind, service, bands, (bands,), "3.1.1")
        return
    mosquitto = MosquittoProcess(workdir / "mosquitto", topics=topics)
    await mosquitto.sync_from(sessions)
    mosquitto.start()
    try:
        bands = parse_mqtt_url(mosquitto.url)
        service_door = replace(mosquitto.service_endpoint, username=None, password=None)
        yield Broker(kind, mosquitto.service_endpoint, bands, (bands, service_door), "5")
    finally:
        mosquitto.stop()


async def refused(
    endpoint: MqttEndpoint, client_id: str, *, clean: bool, username: str | None, password: str | None
) -> bool:
    stranger = AsyncMqttClient(
        endpoint,
        client_id=client_id,
        username=username,
        password=password,
        protocol="3.1.1",
        clean_start=clean,
        session_expiry_s=0 if clean else 3600,
    )
    try:
        await stranger.connect(timeout=5)
    except MqttError:
        return True
    await stranger.disconnect()
    return False


def connects_refused() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "opaska_broker_refusals":
            total += sum(
                s.value for s in metric.samples if s.name.endswith("_total") and s.labels["action"] == "connect"
            )
    return total


@pytest.mark.parametrize("kind", ["embedded", "mosquitto"])
async def test_strangers_with_the_platform_client_ids_silence_no_alarm(
    kind: str, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    topics = TopicScheme(f"t{uuid.uuid4().hex[:8]}/opaska/v1")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    fleet = (await provision_fleet(sessions, clock, count=BANDS, prefix=f"P{uuid.uuid4().hex[:6]}")).credentials
    async with (
        broker_of(kind, sessions, topics, tmp_path) as broker,
        running_gateway(
            endpoint=broker.service,
            topics=topics,
            sessions=sessions,
            clock=clock,
            client_prefix=prefix,
            protocol=broker.protocol,
        ) as gateway,
    ):
        gateway_ids = [platform_client_id(prefix, "gateway"), platform_client_id(prefix, "gateway") + "-alarms"]
        band = fleet[0]
        before = connects_refused()
        attempts = 0
        for door in broker.doors:
            for client_id in gateway_ids:
                for clean in (True, False):
                    for username, password in (
                        (None, None),  # anonymous
                        (broker.service.username, "not-the-password"),
                        (band.serial, band.secret),  # a real band, but not its own client id
                    ):
                        if kind == "mosquitto" and username == band.serial and door == broker.bands:
                            continue  # below
                        attempts += 1
                        assert await refused(door, client_id, clean=clean, username=username, password=password), (
                            f"{kind}: {client_id} accepted on port {door.port} as {username!r}"
                        )
                if kind == "mosquitto" and door == broker.bands:
                    # Mosquitto's ACL cannot see client ids: on the band listener the client id is
                    # replaced by the username, so a band giving the gateway's id connects as itself
                    # (harmless, as the SOS below proves). On the platform listener a band cannot
                    # log in at all (its own password file holds the service account alone).
                    intruder = AsyncMqttClient(
                        door, client_id=client_id, username=band.serial, password=band.secret, protocol="3.1.1"
                    )
                    await intruder.connect(timeout=5)
                    await intruder.disconnect()
        if kind == "embedded":
            # Every refusal is counted (and logged, throttled), by reason.
            assert connects_refused() - before >= attempts
        assert await gateway.broker_state() == "ok"

        bands = [
            VirtualBand(
                broker.bands,
                topics,
                credentials.serial,
                password=credentials.secret,
                protocol=broker.protocol,  # type: ignore[arg-type]
                repeat=RepeatPolicy(first_s=2, max_s=5),
            )
            for credentials in fleet
        ]
        assert band_client_id(band.serial) != gateway_ids[0]
        try:
            await asyncio.gather(*(b.start() for b in bands))
            answers = await asyncio.gather(*(b.press("sos", timeout=60) for b in bands), return_exceptions=True)
        finally:
            await asyncio.gather(*(b.stop() for b in bands), return_exceptions=True)
        lost = [b.serial for b, answer in zip(bands, answers, strict=True) if isinstance(answer, BaseException)]
        assert not lost, f"{len(lost)} of {BANDS} SOS not acknowledged on {kind}: {lost[:5]}"
        assert all(isinstance(answer, dict) and answer.get("alarm_id") for answer in answers)
        assert await gateway.broker_state() == "ok"
