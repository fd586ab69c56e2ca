"""The embedded broker admits only bands with their secret and the service account, binds each band
to its client id `band-{serial}`, and holds each band to its own topics
(`gateway.broker.acl.TopicRules`). Real paho clients, a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import pytest
import pytest_asyncio
from amqtt.contexts import Action
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.broker.acl import Principal, PrincipalKind, TopicRules, band_client_id
from gateway.broker.amqtt_plugins import BrokerGuard
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import EmbeddedBroker
from gateway.topics import TopicScheme
from registry.model import Band, BandStatus
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

SERVICE = "opaska-acl-service"
SERVICE_PASSWORD = "service-password-for-this-test"
QUIET_S = 0.3  # how long "nothing more arrives" is watched for, after a later marker has arrived


class Peer:
    """A plain paho client. The broker runs on the test's loop, so blocking calls run off it."""

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None,
        password: str | None,
        *,
        will: str | None = None,
        clean: bool = True,
    ) -> None:
        self._port = port
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=clean,
            reconnect_on_failure=False,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if will is not None:
            self._client.will_set(will, b'{"v":1,"online":false}', qos=1, retain=True)
        self._connack = threading.Event()
        self.accepted = False
        self._subacks: dict[int, bool] = {}
        self.received: list[tuple[str, bytes]] = []
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self.accepted = not reason.is_failure
        self._connack.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[Any], _p: Any) -> None:
        self._subacks[mid] = not any(r.is_failure for r in reasons)

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        self.received.append((message.topic, bytes(message.payload)))

    async def connect(self) -> bool:
        """True if the broker accepted us."""
        try:
            await asyncio.to_thread(self._client.connect, "127.0.0.1", self._port, 30)
        except OSError:
            return False
        self._client.loop_start()
        await asyncio.to_thread(self._connack.wait, 10)
        assert self._connack.is_set(), "no CONNACK"
        return self.accepted

    async def subscribe(self, topic_filter: str) -> bool:
        """True if the broker granted the subscription."""
        _, mid = self._client.subscribe(topic_filter, qos=1)
        async with asyncio.timeout(10):
            while mid not in self._subacks:
                await asyncio.sleep(0.01)
        return self._subacks[mid]

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, 10)

    def got(self, topic: str) -> list[bytes]:
        return [payload for t, payload in self.received if t == topic]

    async def wait_for(self, topic: str) -> None:
        async with asyncio.timeout(10):
            while not self.got(topic):
                await asyncio.sleep(0.01)
        # Anything sent before the awaited message has had its chance to arrive too.
        await asyncio.sleep(QUIET_S)

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)


@dataclass
class Deployment:
    """One embedded broker with its credential store, and the clients a test opened on it."""

    broker: EmbeddedBroker
    store: CredentialStore
    topics: TopicScheme
    prefix: str
    peers: list[Peer] = field(default_factory=list)

    async def peer(
        self, name: str, username: str | None, password: str | None, *, will: str | None = None, clean: bool = True
    ) -> Peer:
        """A client that must be accepted."""
        peer = await self.attempt(name, username, password, will=will, clean=clean)
        assert peer.accepted, f"{name} ({username}) was refused"
        return peer

    async def attempt(
        self,
        name: str,
        username: str | None,
        password: str | None,
        *,
        will: str | None = None,
        clean: bool = True,
        client_id: str | None = None,
    ) -> Peer:
        """A client that may be refused. By default with the client id its username calls for:
        `band-{serial}` for a band, a name of its own for the service account or nobody."""
        if client_id is None:
            is_band = username is not None and username != SERVICE
            client_id = band_client_id(username) if is_band and username else f"{self.prefix}-{name}"
        peer = Peer(self.broker.port, client_id, username, password, will=will, clean=clean)
        self.peers.append(peer)
        await peer.connect()
        return peer

    async def service(self, name: str = "service") -> Peer:
        return await self.peer(name, SERVICE, SERVICE_PASSWORD)

    async def band(self, band: SeededBand, name: str | None = None, *, clean: bool = True) -> Peer:
        # As a real band connects: with a will on its own status topic.
        return await self.peer(
            name or band.serial, band.serial, band.secret, will=self.topics.status(band.serial), clean=clean
        )


Deploy = Callable[..., Awaitable[Deployment]]


@pytest_asyncio.fixture
async def deploy(
    sessions: async_sessionmaker[AsyncSession], topics: TopicScheme, client_prefix: str
) -> AsyncIterator[Deploy]:
    started: list[Deployment] = []

    async def start(*, enforce_topics: bool = True) -> Deployment:
        store = CredentialStore(sessions, service_username=SERVICE, service_password=SERVICE_PASSWORD)
        broker = EmbeddedBroker(
            "127.0.0.1", free_port(), credentials=store, rules=TopicRules(topics), enforce_topics=enforce_topics
        )
        await broker.start()
        deployment = Deployment(broker, store, topics, f"{client_prefix}{len(started)}")
        started.append(deployment)
        return deployment

    try:
        yield start
    finally:
        for deployment in started:
            for peer in deployment.peers:
                with contextlib.suppress(Exception):
                    await peer.close()
            await deployment.broker.stop()


@pytest_asyncio.fixture
async def two_bands(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> tuple[SeededBand, SeededBand]:
    return (
        await seed_resident_with_band(sessions, clock, first_name="Anna"),
        await seed_resident_with_band(sessions, clock, first_name="Bożena"),
    )


async def forged_uplink_delivered(deployment: Deployment, a: SeededBand, b: SeededBand) -> bool:
    """Does band A's message on band B's uplink reach the platform's uplink subscription?

    A's message on its own uplink is sent after it and must arrive: it shows the broker was
    delivering, so a missing forged message was stopped, not merely late.
    """
    topics = deployment.topics
    service = await deployment.service("leak-service")
    assert await service.subscribe(topics.uplink_filter)
    band_a = await deployment.band(a, "leak-band")
    await band_a.publish(topics.uplink(b.serial, "sos"), b'{"forged":true}')
    await band_a.publish(topics.uplink(a.serial, "heartbeat"), b'{"own":true}')
    await service.wait_for(topics.uplink(a.serial, "heartbeat"))
    return bool(service.got(topics.uplink(b.serial, "sos")))


async def test_band_with_its_secret_connects(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]) -> None:
    deployment = await deploy()
    band = await deployment.band(two_bands[0])
    assert await band.subscribe(deployment.topics.downlink_filter(two_bands[0].serial))


@pytest.mark.parametrize(
    "who",
    ["wrong secret", "unknown band", "anonymous", "service with a wrong password", "another band's secret"],
)
async def test_bad_credentials_are_refused(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand], who: str) -> None:
    a, b = two_bands
    username, password = {
        "wrong secret": (a.serial, a.secret + "x"),
        "unknown band": ("B-unknown", a.secret),
        "anonymous": (None, None),
        "service with a wrong password": (SERVICE, "guess"),
        "another band's secret": (a.serial, b.secret),
    }[who]
    deployment = await deploy()
    assert not (await deployment.attempt("intruder", username, password)).accepted


async def test_retired_band_is_refused(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand], sessions: async_sessionmaker[AsyncSession]
) -> None:
    a, _ = two_bands
    deployment = await deploy()
    await (await deployment.band(a, "before")).close()
    async with sessions() as session, session.begin():
        band = await session.get(Band, a.band_id)
        assert band is not None
        band.status = BandStatus.RETIRED
    await deployment.store.refresh()
    assert not (await deployment.attempt("after", a.serial, a.secret)).accepted


async def test_band_cannot_publish_as_another_band(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]) -> None:
    a, b = two_bands
    assert not await forged_uplink_delivered(await deploy(), a, b)


async def test_the_leak_check_can_fail(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]) -> None:
    """Without the topic plugin the same check sees the forged message: the test above can fail."""
    a, b = two_bands
    assert await forged_uplink_delivered(await deploy(enforce_topics=False), a, b)


async def test_band_cannot_subscribe_to_others(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]) -> None:
    a, b = two_bands
    deployment = await deploy()
    topics = deployment.topics
    band_a = await deployment.band(a)
    for topic_filter in (
        topics.downlink_filter(b.serial),
        topics.downlink(b.serial, "alarm_received"),
        f"{topics.root}/bands/+/down/#",
        topics.uplink_filter,
        f"{topics.root}/#",
        "#",
        "$SYS/#",
    ):
        assert not await band_a.subscribe(topic_filter), topic_filter
    assert await band_a.subscribe(topics.downlink_filter(a.serial))
    assert await band_a.subscribe(topics.downlink(a.serial, "config"))


async def test_band_cannot_take_over_another_bands_session(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]
) -> None:
    """A's CONNECT with B's client id and clean session off is refused; B's session, with the
    message queued for it meanwhile, is still B's when B comes back."""
    a, b = two_bands
    deployment = await deploy()
    topics = deployment.topics
    band_b = await deployment.band(b, "b-session", clean=False)
    assert await band_b.subscribe(topics.downlink_filter(b.serial))
    await band_b.close()
    service = await deployment.service()
    await service.publish(topics.downlink(b.serial, "alarm_received"), b"for B only")

    impostor = await deployment.attempt("impostor", a.serial, a.secret, client_id=band_client_id(b.serial), clean=False)
    assert not impostor.accepted
    back = await deployment.band(b, "b-back", clean=False)
    await back.wait_for(topics.downlink(b.serial, "alarm_received"))
    assert impostor.received == []


async def test_delivery_is_checked_against_the_client_ids_principal() -> None:
    """The RECEIVE check (amqtt's delivery to a session), which the wire can no longer reach now
    that a client id belongs to one band: A's principal never receives B's downlink."""
    topics = TopicScheme("opaska/v1")
    guard = BrokerGuard(credentials=None, rules=TopicRules(topics))  # type: ignore[arg-type]  # not used here
    guard.principals[band_client_id("A-1")] = Principal(PrincipalKind.BAND, "A-1")
    assert guard.allows(band_client_id("A-1"), topics.downlink("A-1", "config"), Action.RECEIVE)
    assert not guard.allows(band_client_id("A-1"), topics.downlink("B-1", "config"), Action.RECEIVE)
    assert not guard.allows(band_client_id("B-1"), topics.downlink("B-1", "config"), Action.RECEIVE)


async def test_band_gets_no_retained_message_of_another_band(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]
) -> None:
    """amqtt sends a connecting client the retained messages of every client's filters; not here."""
    a, b = two_bands
    deployment = await deploy()
    topics = deployment.topics
    service = await deployment.service()
    assert await service.subscribe(f"{topics.root}/bands/+/status")
    band_b = await deployment.band(b)
    await band_b.publish(topics.status(b.serial), b'{"v":1,"online":true}', retain=True)
    await service.wait_for(topics.status(b.serial))

    band_a = await deployment.band(a)
    assert await band_a.subscribe(topics.downlink_filter(a.serial))
    await service.publish(topics.downlink(a.serial, "config"), b"{}")
    await band_a.wait_for(topics.downlink(a.serial, "config"))
    assert band_a.got(topics.status(b.serial)) == []


async def test_band_cannot_publish_to_a_downlink(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]) -> None:
    a, b = two_bands
    deployment = await deploy()
    topics = deployment.topics
    service = await deployment.service()
    assert await service.subscribe(f"{topics.root}/bands/+/down/#")
    band_b = await deployment.band(b)
    assert await band_b.subscribe(topics.downlink_filter(b.serial))
    band_a = await deployment.band(a)
    assert await band_a.subscribe(topics.downlink_filter(a.serial))

    forged = b'{"kind":"alarm_received","msg_id":"m1"}'
    await band_a.publish(topics.downlink(b.serial, "alarm_received"), forged)
    await band_a.publish(topics.downlink(a.serial, "alarm_received"), forged)
    await band_a.publish(topics.uplink(a.serial, "heartbeat"), b"{}")
    await service.publish(topics.downlink(b.serial, "config"), b"genuine")
    await band_b.wait_for(topics.downlink(b.serial, "config"))
    assert band_b.got(topics.downlink(b.serial, "alarm_received")) == []
    assert band_a.got(topics.downlink(a.serial, "alarm_received")) == []
    assert service.got(topics.downlink(b.serial, "alarm_received")) == []
    assert service.got(topics.downlink(a.serial, "alarm_received")) == []


async def test_will_on_another_bands_topic_is_refused(deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]) -> None:
    """amqtt publishes a will unchecked, so a will outside the band's own topics refuses the CONNECT."""
    a, b = two_bands
    deployment = await deploy()
    topics = deployment.topics
    refused = await deployment.attempt("will", a.serial, a.secret, will=topics.status(b.serial))
    assert not refused.accepted
    assert (await deployment.attempt("own-will", a.serial, a.secret, will=topics.status(a.serial))).accepted


async def test_service_account_may_use_every_band_topic(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]
) -> None:
    a, b = two_bands
    deployment = await deploy()
    topics = deployment.topics
    service = await deployment.service()
    for topic_filter in (topics.uplink_filter, f"{topics.root}/bands/+/down/#", f"$share/gw/{topics.uplink_filter}"):
        assert await service.subscribe(topic_filter), topic_filter
    assert not await service.subscribe("elsewhere/#")

    band_b = await deployment.band(b)
    assert await band_b.subscribe(topics.downlink_filter(b.serial))
    sender = await deployment.service("service-sender")
    for topic in (topics.downlink(b.serial, "alarm_received"), topics.uplink(a.serial, "sos")):
        await sender.publish(topic, b"from the platform")
        await service.wait_for(topic)
    await band_b.wait_for(topics.downlink(b.serial, "alarm_received"))


# -- client ids: `band-{serial}` belongs to that band ---------------------------------------------


@pytest.mark.parametrize(
    "client_id", ["another band's", "arbitrary", "bare serial", "own id plus a suffix", "own id in capitals"]
)
async def test_a_band_must_connect_with_its_own_client_id(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand], client_id: str
) -> None:
    a, b = two_bands
    deployment = await deploy()
    chosen = {
        "another band's": band_client_id(b.serial),
        "arbitrary": f"{deployment.prefix}-anything",
        "bare serial": a.serial,
        "own id plus a suffix": band_client_id(a.serial) + "x",
        "own id in capitals": band_client_id(a.serial).upper(),
    }[client_id]
    refused = await deployment.attempt("wrong-id", a.serial, a.secret, client_id=chosen)
    assert not refused.accepted, chosen
    assert (await deployment.attempt("right-id", a.serial, a.secret, client_id=band_client_id(a.serial))).accepted


async def test_the_service_account_may_not_use_a_band_client_id(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]
) -> None:
    a, _ = two_bands
    deployment = await deploy()
    for client_id in (band_client_id(a.serial), "band-"):
        assert not (await deployment.attempt("svc", SERVICE, SERVICE_PASSWORD, client_id=client_id)).accepted
    assert (await deployment.attempt("svc", SERVICE, SERVICE_PASSWORD, client_id="gateway-band-1")).accepted


async def forged_sos_through_a_shared_client_id(deployment: Deployment, a: SeededBand, b: SeededBand) -> bool:
    """The reviewer's attack. Band A connects (clean session) with band B's client id, then B with
    its own: amqtt keeps both connections open, and the guard knows a client id's principal only,
    so A's connection would be judged as B. True if A's SOS on B's uplink reaches the platform.
    B's own heartbeat, sent after it, must arrive: the broker was delivering."""
    topics = deployment.topics
    service = await deployment.service("leak-service")
    assert await service.subscribe(topics.uplink_filter)
    impostor = await deployment.attempt("impostor", a.serial, a.secret, client_id=band_client_id(b.serial))
    band_b = await deployment.band(b)
    if impostor.accepted:
        await impostor.publish(topics.uplink(b.serial, "sos"), b'{"forged":true}')
    await band_b.publish(topics.uplink(b.serial, "heartbeat"), b'{"own":true}')
    await service.wait_for(topics.uplink(b.serial, "heartbeat"))
    return bool(service.got(topics.uplink(b.serial, "sos")))


async def test_a_band_cannot_forge_an_sos_by_sharing_a_client_id(
    deploy: Deploy, two_bands: tuple[SeededBand, SeededBand]
) -> None:
    a, b = two_bands
    assert not await forged_sos_through_a_shared_client_id(await deploy(), a, b)
