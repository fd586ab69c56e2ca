"""Per-band credentials and the topic ACL on a real Mosquitto, with real clients.

The broker runs the shipped config/mosquitto.conf with the password and ACL files rendered by
`gateway.broker.mosquitto_auth` from a migrated registry, with both its listeners: bands connect
to the band listener (client id replaced by the username), the service account to the platform's.
Clients are paho (MQTT 3.1.1 and 5) and mosquitto_pub / mosquitto_sub. The leak check is a helper
so that it can be run once against a Mosquitto without `acl_file`, where it must find the leak:
proof that the test can fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import pytest_asyncio
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.broker.acl import band_client_id
from gateway.broker.mosquitto_auth import ACL_FILE_MODE, PASSWORD_FILE_MODE, MosquittoAuthFiles
from gateway.topics import TopicScheme
from registry.credentials import hash_band_secret, verify_band_secret
from registry.model import Band, BandStatus
from tests.support.mosquitto import MosquittoProcess
from tests.support.require import need_program
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

NOT_AUTHORISED = 0x87
# MQTT 5 PUBACK: 0 success, or 0x10 "no matching subscribers" (also a success).
ACCEPTED = (0x00, 0x10)


# -- clients --------------------------------------------------------------------------------------


@dataclass
class PahoClient:
    """A paho client on its own network thread, for assertions about what a broker delivers."""

    port: int
    username: str | None
    password: str | None
    mqtt5: bool = False
    client_id: str | None = None
    clean: bool = True  # clean start (5) / clean session (3.1.1); persistent sessions expire in 300 s
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connect_rc: int | None = None
        self.disconnected = False
        self.publish_rc: dict[int, int] = {}
        self.granted: dict[int, list[int]] = {}
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id or f"t-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5 if self.mqtt5 else paho.MQTTv311,
            clean_session=None if self.mqtt5 else self.clean,
        )
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(self, _c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None) -> None:
        self.connect_rc = rc.value

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: object, _rc: ReasonCode, _p: object) -> None:
        self.disconnected = True

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, rc: ReasonCode, _p: Properties) -> None:
        self.publish_rc[mid] = rc.value

    def _on_subscribe(self, _c: paho.Client, _u: object, mid: int, rcs: list[ReasonCode], _p: object) -> None:
        self.granted[mid] = [rc.value for rc in rcs]

    async def connect(self) -> int:
        """The CONNACK reason code (0 = accepted)."""
        self.client.reconnect_delay_set(60, 60)  # a refused client must not try again by itself
        if self.mqtt5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships it untyped
            properties.SessionExpiryInterval = 0 if self.clean else 300
            self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=self.clean, properties=properties)
        else:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        await _until(lambda: self.connect_rc is not None)
        assert self.connect_rc is not None
        return self.connect_rc

    async def publish(self, topic: str, payload: bytes) -> int:
        """QoS 1; the PUBACK's reason code (always 0 over 3.1.1, which has none)."""
        info = self.client.publish(topic, payload, qos=1)
        await _until(lambda: info.mid in self.publish_rc)
        return self.publish_rc[info.mid]

    async def subscribe(self, topic_filter: str) -> list[int]:
        _, mid = self.client.subscribe(topic_filter, qos=1)
        assert mid is not None
        await _until(lambda: mid in self.granted)
        return self.granted[mid]

    def payloads(self) -> list[bytes]:
        return [payload for _, payload in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def _until(check: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def run(*args: str) -> tuple[int, str]:
    """A mosquitto-clients command; (exit code, stderr)."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode is not None
    return process.returncode, err.decode()


def pub_args(broker: MosquittoProcess, user: str | None, password: str | None, topic: str, message: str) -> list[str]:
    binary = need_program("mosquitto_pub")
    creds = ["-u", user, "-P", password or ""] if user is not None else []
    return [binary, "-h", "127.0.0.1", "-p", str(broker.port), *creds, "-q", "1", "-t", topic, "-m", message]


# -- fixtures -------------------------------------------------------------------------------------


@dataclass
class World:
    broker: MosquittoProcess
    topics: TopicScheme
    a: SeededBand
    b: SeededBand


async def _world(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, topics: TopicScheme, workdir: Path, *, acl: bool
) -> World:
    a = await seed_resident_with_band(sessions, clock, first_name="Anna")
    b = await seed_resident_with_band(sessions, clock, first_name="Barbara")
    broker = MosquittoProcess(workdir, topics=topics, acl=acl)
    await broker.sync_from(sessions)
    broker.start()
    return World(broker, topics, a, b)


@pytest_asyncio.fixture
async def world(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, topics: TopicScheme, tmp_path: Path
) -> AsyncIterator[World]:
    w = await _world(sessions, clock, topics, tmp_path / "mosquitto", acl=True)
    try:
        yield w
    finally:
        w.broker.stop()


@pytest.fixture
def clients() -> Iterator[list[PahoClient]]:
    made: list[PahoClient] = []
    yield made
    for client in made:
        client.close()


def client(
    clients: list[PahoClient],
    broker: MosquittoProcess,
    username: str | None,
    password: str | None,
    *,
    mqtt5: bool,
    client_id: str | None = None,
    clean: bool = True,
) -> PahoClient:
    """As in production: the service account on the platform's listener, everyone else on the bands'."""
    port = broker.service_port if username == broker.service_username else broker.port
    made = PahoClient(port, username, password, mqtt5=mqtt5, client_id=client_id, clean=clean)
    clients.append(made)
    return made


# -- the leak check (run against both configs) ----------------------------------------------------


async def band_can_publish_as_another(world: World, clients: list[PahoClient]) -> bool:
    """Band A publishes on B's uplink, then on its own (MQTT 3.1.1, mosquitto_pub). True if the
    forged message reached the platform's service subscriber. A's own message must arrive, or the
    check would prove nothing."""
    service = client(clients, world.broker, world.broker.service_username, world.broker.service_password, mqtt5=True)
    assert await service.connect() == 0
    assert await service.subscribe(f"{world.topics.root}/#") == [1]
    forged, own = f"forged-{uuid.uuid4().hex}".encode(), f"own-{uuid.uuid4().hex}".encode()
    a = world.a
    code, err = await run(
        *pub_args(world.broker, a.serial, a.secret, world.topics.uplink(world.b.serial, "sos"), forged.decode())
    )
    assert code == 0, err  # 3.1.1 has no way to say no: the broker acks and drops
    code, err = await run(
        *pub_args(world.broker, a.serial, a.secret, world.topics.uplink(a.serial, "sos"), own.decode())
    )
    assert code == 0, err
    # Each mosquitto_pub waited for its PUBACK, and Mosquitto queues a message for its
    # subscribers before it acks it, so once `own` is here, `forged` would have been too.
    await _until(lambda: own in service.payloads())
    return forged in service.payloads()


async def test_a_band_cannot_publish_on_another_bands_uplink_over_mqtt_311(
    world: World, clients: list[PahoClient]
) -> None:
    assert not await band_can_publish_as_another(world, clients)


async def test_without_the_acl_file_the_leak_check_finds_the_leak(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    topics: TopicScheme,
    tmp_path: Path,
    clients: list[PahoClient],
) -> None:
    """The issue's proof: removing `acl_file` from the configuration makes the check above fail."""
    open_world = await _world(sessions, clock, topics, tmp_path / "no-acl", acl=False)
    try:
        config_lines = open_world.broker.config_path.read_text().splitlines()
        assert not [line for line in config_lines if line.startswith("acl_file")]
        assert await band_can_publish_as_another(open_world, clients)
    finally:
        open_world.broker.stop()


# -- authentication -------------------------------------------------------------------------------


async def test_a_band_connects_with_its_secret_and_nobody_else_gets_in(world: World, clients: list[PahoClient]) -> None:
    a, broker = world.a, world.broker
    code, err = await run(*pub_args(broker, a.serial, a.secret, world.topics.uplink(a.serial, "heartbeat"), "{}"))
    assert code == 0, err
    refused = [
        (a.serial, "not-the-secret"),  # wrong secret
        (a.serial, world.b.secret),  # another band's secret
        ("B-unknown", a.secret),  # unknown band
        (None, None),  # anonymous
        (broker.service_username, a.secret),  # the service account with a band's secret
    ]
    for user, password in refused:
        code, err = await run(*pub_args(broker, user, password, world.topics.uplink(a.serial, "heartbeat"), "{}"))
        assert code != 0, (user, err)
        assert "not authorised" in err, (user, code, err)
    # Over MQTT 5 the refusal is a CONNACK reason code: 0x86 bad user name or password, or 0x87.
    wrong = client(clients, broker, a.serial, "not-the-secret", mqtt5=True)
    assert await wrong.connect() in (0x86, NOT_AUTHORISED)
    right = client(clients, broker, a.serial, a.secret, mqtt5=True)
    assert await right.connect() == 0


# -- client ids: the band listener replaces them by the username ---------------------------------


async def test_a_band_cannot_take_over_the_gateways_session(world: World, clients: list[PahoClient]) -> None:
    """A band connecting with the gateway's client id and clean start off would take over its
    persistent session: the gateway kicked off, the alarms queued for it dropped (the band may not
    read them). On the band listener the band is its username instead, and the gateway stays."""
    a, b, topics, broker = world.a, world.b, world.topics, world.broker
    gateway_id = f"opaska-gateway-{uuid.uuid4().hex[:6]}"
    gateway = client(
        clients, broker, broker.service_username, broker.service_password, mqtt5=True, client_id=gateway_id, clean=False
    )
    assert await gateway.connect() == 0
    assert await gateway.subscribe(topics.uplink_filter) == [1]
    for mqtt5 in (True, False):
        impostor = client(clients, broker, a.serial, a.secret, mqtt5=mqtt5, client_id=gateway_id, clean=False)
        assert await impostor.connect() == 0  # let in, as band A
        assert await impostor.publish(topics.uplink(a.serial, "heartbeat"), b"a-as-itself") in ACCEPTED
    band_b = client(clients, broker, b.serial, b.secret, mqtt5=True)
    assert await band_b.connect() == 0
    assert await band_b.publish(topics.uplink(b.serial, "sos"), b"b-sos") in ACCEPTED
    with contextlib.suppress(TimeoutError):
        await _until(lambda: b"b-sos" in gateway.payloads(), timeout=5)
    assert not gateway.disconnected, "a band took over the gateway's session"
    assert b"b-sos" in gateway.payloads()
    assert gateway.payloads().count(b"a-as-itself") == 2


async def test_a_band_cannot_kick_another_band_off_with_its_client_id(world: World, clients: list[PahoClient]) -> None:
    a, b, topics, broker = world.a, world.b, world.topics, world.broker
    platform = client(clients, broker, broker.service_username, broker.service_password, mqtt5=True)
    assert await platform.connect() == 0
    assert await platform.subscribe(topics.uplink_filter) == [1]
    band_b = client(clients, broker, b.serial, b.secret, mqtt5=True, client_id=band_client_id(b.serial), clean=False)
    assert await band_b.connect() == 0
    impostor = client(clients, broker, a.serial, a.secret, mqtt5=True, client_id=band_client_id(b.serial), clean=False)
    assert await impostor.connect() == 0  # let in, as band A
    assert await impostor.publish(topics.uplink(a.serial, "heartbeat"), b"a-as-itself") in ACCEPTED
    await _until(lambda: b"a-as-itself" in platform.payloads())
    assert not band_b.disconnected, "band A kicked band B off"
    assert await band_b.publish(topics.uplink(b.serial, "sos"), b"b-sos") in ACCEPTED
    await _until(lambda: b"b-sos" in platform.payloads())
    assert not band_b.disconnected


# -- authorisation over MQTT 5 --------------------------------------------------------------------


async def test_over_mqtt_5_a_forbidden_publish_gets_reason_code_0x87(world: World, clients: list[PahoClient]) -> None:
    a, b, topics = world.a, world.b, world.topics
    band = client(clients, world.broker, a.serial, a.secret, mqtt5=True)
    assert await band.connect() == 0
    assert await band.publish(topics.uplink(a.serial, "sos"), b"{}") in ACCEPTED
    assert await band.publish(topics.status(a.serial), b'{"v":1,"online":true}') in ACCEPTED
    assert not band.disconnected
    forbidden = [
        topics.uplink(b.serial, "sos"),  # another band's uplink
        topics.status(b.serial),  # another band's status
        topics.downlink(a.serial, "alarm_received"),  # a downlink, even its own: only the platform writes those
        topics.downlink(b.serial, "config"),
        f"{topics.root}/bands/{a.serial}/up/sos/extra",  # more than one level under up/
        f"{topics.root}/other",
    ]
    for topic in forbidden:
        # Measured on Mosquitto 2.0.11: after the PUBACK it also closes the connection (over
        # 3.1.1 too), so each forbidden publish gets a connection of its own.
        forger = client(clients, world.broker, a.serial, a.secret, mqtt5=True)
        assert await forger.connect() == 0
        assert await forger.publish(topic, b"{}") == NOT_AUTHORISED, topic
        await _until(lambda forger=forger: forger.disconnected)


async def test_a_band_reads_only_its_own_downlink(world: World, clients: list[PahoClient]) -> None:
    a, b, topics, broker = world.a, world.b, world.topics, world.broker
    spy = client(clients, broker, a.serial, a.secret, mqtt5=False)
    assert await spy.connect() == 0
    # Mosquitto 2.0 grants the SUBSCRIBE (it checks read access per message, at delivery).
    await spy.subscribe(topics.downlink_filter(b.serial))
    await spy.subscribe(f"{topics.root}/bands/+/down/#")
    await spy.subscribe(f"{topics.root}/#")
    owner = client(clients, broker, b.serial, b.secret, mqtt5=False)
    assert await owner.connect() == 0
    await owner.subscribe(topics.downlink_filter(b.serial))
    platform = client(clients, broker, broker.service_username, broker.service_password, mqtt5=True)
    assert await platform.connect() == 0
    assert await platform.publish(topics.downlink(b.serial, "alarm_received"), b"for-b") in ACCEPTED
    assert await platform.publish(topics.uplink(b.serial, "sos"), b"b-uplink") in ACCEPTED
    assert await platform.publish(topics.downlink(a.serial, "config"), b"for-a") in ACCEPTED
    # A's own downlink, sent last, arrives: so B's would have arrived before it.
    await _until(lambda: b"for-a" in spy.payloads() and b"for-b" in owner.payloads())
    assert spy.payloads().count(b"for-a") >= 1
    assert b"for-b" not in spy.payloads()
    assert b"b-uplink" not in spy.payloads()

    # mosquitto_sub as band A on B's downlink: gets nothing while B's message is published.
    sub = need_program("mosquitto_sub")
    reader = await asyncio.create_subprocess_exec(
        sub, "-h", "127.0.0.1", "-p", str(broker.port), "-u", a.serial, "-P", a.secret,
        "-t", topics.downlink_filter(b.serial), "-t", topics.downlink_filter(a.serial), "-C", "1", "-v",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.3)  # let it subscribe
    assert await platform.publish(topics.downlink(b.serial, "config"), b"for-b-again") in ACCEPTED
    assert await platform.publish(topics.downlink(a.serial, "config"), b"for-a-again") in ACCEPTED
    out, err = await asyncio.wait_for(reader.communicate(), timeout=10)
    assert out.decode().split() == [topics.downlink(a.serial, "config"), "for-a-again"], err


# -- revocation -----------------------------------------------------------------------------------


async def test_a_retired_band_is_dropped_on_reload_and_cannot_reconnect(
    world: World, sessions: async_sessionmaker[AsyncSession], clients: list[PahoClient]
) -> None:
    a, b, broker = world.a, world.b, world.broker
    retired = client(clients, broker, b.serial, b.secret, mqtt5=True)
    assert await retired.connect() == 0
    still = client(clients, broker, a.serial, a.secret, mqtt5=True)
    assert await still.connect() == 0

    async with sessions() as session, session.begin():
        await session.execute(update(Band).where(Band.serial == b.serial).values(status=BandStatus.RETIRED))
    started = time.monotonic()
    assert await broker.sync_from(sessions)  # re-render from the registry + SIGHUP
    await _until(lambda: retired.disconnected, timeout=5)
    dropped_after = time.monotonic() - started
    assert dropped_after < 2, dropped_after
    assert not still.disconnected
    assert await still.publish(world.topics.uplink(a.serial, "heartbeat"), b"{}") in ACCEPTED

    code, err = await run(*pub_args(broker, b.serial, b.secret, world.topics.uplink(b.serial, "sos"), "{}"))
    assert code != 0
    assert "not authorised" in err
    assert b.serial not in broker.auth.password_path.read_text()
    # Nothing changed since: no second reload.
    assert not await broker.sync_from(sessions)


# -- the hash format, both ways against mosquitto_passwd ------------------------------------------


@pytest.mark.parametrize("password", ["s3cret-Token_urlsafe", "zażółć gęślą jaźń"])
async def test_hashes_are_compatible_with_mosquitto_passwd_both_ways(
    world: World, tmp_path: Path, password: str
) -> None:
    passwd = need_program("mosquitto_passwd")
    file = tmp_path / "pw"
    code, err = await run(passwd, "-c", "-b", str(file), "written-by-mosquitto", password)
    assert code == 0, err
    user, written = file.read_text().strip().split(":", 1)
    assert written.startswith("$7$")
    # mosquitto_passwd's line verifies with ours...
    assert verify_band_secret(password, written)
    assert not verify_band_secret(password + "x", written)
    # ...and Mosquitto accepts both its own hash and ours.
    ours = hash_band_secret(password)
    world.broker.set_bands({user: written, "written-by-opaska": ours})
    for name in (user, "written-by-opaska"):
        code, err = await run(*pub_args(world.broker, name, password, world.topics.uplink(name, "heartbeat"), "{}"))
        assert code == 0, (name, err)
        code, err = await run(*pub_args(world.broker, name, password + "x", world.topics.uplink(name, "x"), "{}"))
        assert code != 0, name


# -- the renderer ---------------------------------------------------------------------------------


async def test_files_are_written_atomically_only_when_changed_and_the_broker_signalled(tmp_path: Path) -> None:
    # A stand-in for Mosquitto that only counts SIGHUPs.
    child = await asyncio.create_subprocess_exec(
        "python3", "-c",
        "import signal,sys,time\n"
        "n=0\n"
        "def hup(*_):\n global n; n+=1; print(n, flush=True)\n"
        "signal.signal(signal.SIGHUP, hup)\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(1)\n",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        assert (await child.stdout.readline()).strip() == b"ready"
        pid_file = tmp_path / "mosquitto.pid"
        pid_file.write_text(f"{child.pid}\n")
        topics = TopicScheme("opaska/v1")
        files = MosquittoAuthFiles(
            tmp_path / "auth",
            topics=topics,
            service_username="opaska-service",
            service_password="pw",
            pid_file=pid_file,
        )
        first = files.write({"B-1": hash_band_secret("x")})
        assert first.changed
        assert first.reloaded
        assert (await child.stdout.readline()).strip() == b"1"
        assert oct(files.password_path.stat().st_mode & 0o777) == oct(PASSWORD_FILE_MODE)
        assert oct(files.acl_path.stat().st_mode & 0o777) == oct(ACL_FILE_MODE)
        same = files.password_path.read_text()
        again = files.write({"B-1": same.split("B-1:")[1].strip()})
        assert not again.changed
        assert not again.reloaded
        # A restart keeps the service account's hash: no needless reload.
        restarted = MosquittoAuthFiles(
            tmp_path / "auth",
            topics=topics,
            service_username="opaska-service",
            service_password="pw",
            pid_file=pid_file,
        )
        assert not restarted.write({"B-1": same.split("B-1:")[1].strip()}).changed
        assert restarted.write({}).reloaded
        assert (await child.stdout.readline()).strip() == b"2"
        assert [p.name for p in files.directory.iterdir() if p.name.startswith(".")] == []
        acl = files.acl_path.read_text()
        assert "pattern write opaska/v1/bands/%u/up/+\n" in acl
        assert "pattern write opaska/v1/bands/%u/status\n" in acl
        assert "pattern read opaska/v1/bands/%u/down/#\n" in acl
        assert "user opaska-service\ntopic readwrite opaska/v1/#\n" in acl
        assert "write" not in acl.split("pattern read")[1].split("user")[0]
    finally:
        os.kill(child.pid, signal.SIGTERM)
        await child.wait()


async def test_a_serial_mosquitto_cannot_take_as_a_username_is_left_out(tmp_path: Path) -> None:
    files = MosquittoAuthFiles(
        tmp_path, topics=TopicScheme("r"), service_username="opaska-service", service_password="pw"
    )
    passwords, _ = files.render({"ok": "$7$h", "has:colon": "$7$h", "opaska-service": "$7$h"})
    users = [line.split(":", 1)[0] for line in passwords.splitlines() if not line.startswith("#")]
    assert users == ["opaska-service", "ok"]
    assert passwords.count("opaska-service:") == 1


async def test_a_topic_root_with_percent_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="topic root"):
        MosquittoAuthFiles(tmp_path, topics=TopicScheme("a%u"), service_username="s", service_password="pw")


# -- measured: reloading 10,000 bands -------------------------------------------------------------


async def test_reloading_a_password_file_of_10000_bands_is_quick(world: World) -> None:
    hashes = {f"B-{i:05d}": hash_band_secret(f"secret-{i}") for i in range(10_000)}
    hashes[world.a.serial] = hash_band_secret(world.a.secret)
    started = time.perf_counter()
    assert world.broker.set_bands(hashes)  # write + SIGHUP + wait until reloaded
    elapsed = time.perf_counter() - started
    size = world.broker.auth.password_path.stat().st_size
    print(f"\n10,000-band password file ({size} bytes): written and reloaded in {elapsed * 1000:.0f} ms")
    assert elapsed < 5
    code, err = await run(*pub_args(world.broker, "B-09999", "secret-9999", world.topics.uplink("B-09999", "x"), "{}"))
    assert code == 0, err
