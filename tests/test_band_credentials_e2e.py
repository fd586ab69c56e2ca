"""Registration → credentials → the band connects over real MQTT and its SOS is accepted; revoked,
it is refused by the broker (and a connection it already had is cut off); re-issued, only the new
secret works. On the embedded amqtt broker (its auth reads the registry) and on Mosquitto with the
project's config (its password file re-rendered from the registry, then SIGHUP). The EMQX hook
answers from the same credential store as the embedded broker (tests/test_emqx_hooks.py)."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.clock import FakeClock
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import EmbeddedBroker
from gateway.topics import TopicScheme
from registry import municipalities, residents
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy, VirtualBand
from tests.support.gateway import running_gateway
from tests.support.mosquitto import MosquittoProcess
from tests.support.processes import run_opaska_command

pytestmark = pytest.mark.asyncio

SERVICE = "opaska-e2e-service"


@dataclass
class Deployment:
    name: str
    service: MqttEndpoint  # the gateway's
    bands: MqttEndpoint  # where bands connect
    protocol: str
    # What the platform does after a registry change for this broker to learn it.
    registry_changed: Callable[[], Awaitable[None]]


@pytest_asyncio.fixture(params=["embedded", "mosquitto"])
async def deployment(
    request: pytest.FixtureRequest, sessions: async_sessionmaker[AsyncSession], topics: TopicScheme, tmp_path: Path
) -> AsyncIterator[Deployment]:
    if request.param == "embedded":
        password = secrets.token_urlsafe(16)
        # A short reload interval, so the test need not wait the production 10 s.
        store = CredentialStore(sessions, service_username=SERVICE, service_password=password, refresh_every_s=0.3)
        broker = EmbeddedBroker("127.0.0.1", _free_port(), credentials=store, rules=TopicRules(topics))
        await broker.start()

        async def wait_for_its_reload() -> None:
            """The embedded broker reads the registry by itself: within its reload interval, and a
            username it does not know at most once a second (a band that just failed waits that)."""
            await asyncio.sleep(1.1)

        endpoint = parse_mqtt_url(broker.url)
        try:
            yield Deployment(
                "embedded",
                replace(endpoint, username=SERVICE, password=password),
                endpoint,
                "3.1.1",
                wait_for_its_reload,
            )
        finally:
            await broker.stop()
        return
    mosquitto = MosquittoProcess(tmp_path / "mosquitto", topics=topics)
    await mosquitto.sync_from(sessions)
    mosquitto.start()

    async def re_render() -> None:
        # What the gateway's sync loop (keep_mosquitto_auth_in_step) does every few seconds.
        await mosquitto.sync_from(sessions)

    try:
        yield Deployment("mosquitto", mosquitto.service_endpoint, parse_mqtt_url(mosquitto.url), "5", re_render)
    finally:
        mosquitto.stop()


def _free_port() -> int:
    from tests.support.require import free_port

    return free_port()


def _secret(stdout: str) -> str:
    found = re.search(r"^hasło MQTT: (\S+)$", stdout, re.MULTILINE)
    assert found, stdout
    return found.group(1)


async def _connects(deployment: Deployment, topics: TopicScheme, serial: str, secret: str) -> bool:
    band = VirtualBand(deployment.bands, topics, serial, password=secret)
    try:
        await band.start()
    except MqttError:
        return False
    await band.stop()
    return True


async def _count(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())  # type: ignore[arg-type]


async def test_registered_band_connects_and_raises_revoked_band_is_refused(
    deployment: Deployment,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    topics: TopicScheme,
    database_url: str,
    client_prefix: str,
) -> None:
    async with sessions() as session, session.begin():
        municipality = await municipalities.create_municipality(
            session, clock, code=f"m-{uuid.uuid4().hex[:6]}", name="Gmina Testowa"
        )
        resident = await residents.create_resident(
            session, clock, municipality_id=municipality.id, first_name="Helena", last_name="Kowalska"
        )
    serial = f"OP-{uuid.uuid4().hex[:8]}"
    registered = await run_opaska_command(
        database_url, "band", "register", "--serial", serial, "--resident", str(resident.id)
    )
    assert registered.returncode == 0, registered.stderr
    secret = _secret(registered.stdout)
    await deployment.registry_changed()

    async with running_gateway(
        endpoint=deployment.service,
        topics=topics,
        sessions=sessions,
        clock=clock,
        client_prefix=client_prefix,
        protocol=deployment.protocol,
    ):
        band = VirtualBand(deployment.bands, topics, serial, password=secret, repeat=RepeatPolicy(1, 2))
        await band.start()
        try:
            received = await band.press("sos", timeout=15)
            async with sessions() as session:
                alarm = (await session.execute(select(Alarm))).scalar_one()
            assert received["alarm_id"] == alarm.id
            assert (alarm.resident_id, alarm.is_test) == (resident.id, False)

            revoked = await run_opaska_command(database_url, "band", "revoke", serial)
            assert revoked.returncode == 0, revoked.stderr
            await deployment.registry_changed()

            # The connection it had can no longer raise anything (the embedded broker reloads
            # the registry every 0.3 s here; Mosquitto drops it on reload) ...
            await asyncio.sleep(1.0)
            with pytest.raises(TimeoutError):
                await band.press("sos", timeout=3)
            assert await _count(sessions, BandMessage) == 1
            # ... and a new connection is refused.
            assert await _refused(deployment, topics, serial, secret)
        finally:
            await band.stop()

    reissued = await run_opaska_command(database_url, "band", "reissue", serial)
    assert reissued.returncode == 0, reissued.stderr
    new_secret = _secret(reissued.stdout)
    await deployment.registry_changed()
    assert await _connects(deployment, topics, serial, new_secret)
    assert not await _connects(deployment, topics, serial, secret)


async def _refused(deployment: Deployment, topics: TopicScheme, serial: str, secret: str) -> bool:
    return not await _connects(deployment, topics, serial, secret)
