"""The embedded amqtt broker, for the demo and small centres.

It matches every message against every subscription and does not resend in-flight messages to a
reconnecting subscriber; the band's repeat-until-`alarm_received` is what keeps alarms safe on it.
Production runs Mosquitto (config/mosquitto.conf) or EMQX.

Never anonymous: every client proves a band's secret or the service account's per-start password,
a band connects only with its own client id `band-{serial}` (and the service account with none of
that form), and `gateway.broker.acl.TopicRules` is applied to every publish, subscribe and
delivery (`gateway.broker.amqtt_plugins`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, BrokerError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import Session
from amqtt.utils import gen_client_id

from core.settings import MqttSettings
from core.startup import StartupError, check_listen_port
from gateway.broker.acl import TopicRules
from gateway.broker.amqtt_plugins import BrokerGuard, broker_plugins, register_guard, unregister_guard
from gateway.broker.connect_gate import PendingConnects, drop
from gateway.broker.credential_store import CredentialStore
from gateway.broker.refusals import Refused

log = logging.getLogger(__name__)


_DEFAULTS = MqttSettings()


class BrokerStartError(Exception):
    """The embedded broker could not start; the message says why and what to do."""


def _broker_config(host: str, port: int, plugins: dict[str, Any]) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 20000}},
        # Deliberately no PacketLoggerPlugin: it writes passwords at DEBUG.
        "plugins": plugins,
    }


class _AclBroker(Broker):  # type: ignore[misc]  # amqtt ships no type hints (no py.typed)
    """amqtt's broker, behind our door (`gateway.broker.connect_gate`) and minus one way around the
    topic ACL.

    Connections: each must send its CONNECT within the deadline, at most so many per address may
    be waiting for theirs, and each CONNECT is judged by the guard before amqtt deletes, merges or
    takes over any stored session of its client id. Whatever is refused is closed at once.

    Retained messages: when a client connects, amqtt 0.12.1 sends it the retained messages matching
    *every* filter any client has subscribed to, with no topic check: a band would get the gateway's
    view of every other band's retained status. Here each retained message is also checked as a
    delivery (RECEIVE) to the session it is sent to.
    """

    def __init__(
        self, config: dict[str, Any], *, guard: BrokerGuard, connect_timeout_s: float, pending_per_address: int
    ) -> None:
        super().__init__(config)
        self._guard = guard
        self._connect_timeout_s = connect_timeout_s
        self._pending = PendingConnects(pending_per_address)

    async def _client_connected(self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        server = self._servers.get(listener_name)
        if not server:
            raise BrokerError(f"Invalid listener name {listener_name!r}")
        peer = writer.get_peer_info()
        if peer is None:
            await drop(writer)
            return
        address = str(peer[0])
        await server.acquire_connection()
        try:
            accepted = await self._admit(reader, writer, address)
            if accepted is None:
                return
            handler, session = accepted
            try:
                await self._handle_client_session(reader, writer, session, handler, server, listener_name)
            except (AMQTTError, MQTTError, NoDataError) as exc:
                log.debug("MQTT client %r: connection ended: %s", session.client_id, exc)
        finally:
            server.release_connection()

    async def _admit(
        self, reader: ReaderAdapter, writer: WriterAdapter, address: str
    ) -> tuple[BrokerProtocolHandler, Session] | None:
        """The CONNECT read, judged and, if admitted, joined to its stored session; None if refused."""
        refusals = self._guard.refusals
        with self._pending.slot(address) as has_slot:
            if not has_slot:
                detail = f"{address}: too many connections without CONNECT"
                refusals.refused("connect", Refused.TOO_MANY_PENDING, detail)
                await drop(writer)
                return None
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    handler, incoming = await BrokerProtocolHandler.init_from_connect(
                        reader, writer, self.plugins_manager
                    )
            except TimeoutError:
                refusals.refused(
                    "connect", Refused.CONNECT_TIMEOUT, f"{address}: no CONNECT within {self._connect_timeout_s:g} s"
                )
                await drop(writer)
                return None
            except MQTTError as exc:
                refusals.refused("connect", Refused.PROTOCOL, f"{address}: {exc}")
                await drop(writer)
                return None
            except (AMQTTError, NoDataError, OSError) as exc:
                # Closed before a whole CONNECT came (a port scan, a health check) or not MQTT at all.
                refusals.refused("connect", Refused.NO_CONNECT, f"{address}: {type(exc).__name__}")
                await drop(writer)
                return None
        if await self._guard.judge(incoming) is None:
            with contextlib.suppress(Exception):
                await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await drop(writer)
            return None
        return handler, await self._join_stored_session(incoming)

    async def _join_stored_session(self, incoming: Session) -> Session:
        """amqtt 0.12.1's own session handling (`Broker._initialize_client_session`), now run only
        for a CONNECT the guard admitted."""
        if incoming.clean_session:
            if incoming.client_id:
                await self._delete_session(incoming.client_id)
            else:
                incoming.client_id = gen_client_id()
            incoming.parent = 0
            session = incoming
        elif incoming.client_id in self._sessions:
            # The stored session keeps its subscriptions and queue; the new CONNECT brings its will,
            # keep-alive and credentials.
            session, _ = self._sessions[incoming.client_id]
            session.will_flag = incoming.will_flag
            session.will_message = incoming.will_message
            session.will_topic = incoming.will_topic
            session.will_qos = incoming.will_qos
            session.keep_alive = incoming.keep_alive
            session.username = incoming.username
            session.password = incoming.password
            session.parent = 1
        else:
            incoming.parent = 0
            session = incoming
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return session

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = [
            asyncio.ensure_future(
                handler.mqtt_publish(retained.topic, retained.data, min(qos, retained.qos or qos), retain=True)
            )
            for topic, retained in list(self._retained_messages.items())
            if self._matches(topic, topic_filter) and await self._topic_filtering(session, topic, Action.RECEIVE)
        ]
        if sends:
            await asyncio.wait(sends)


def check_port_free(host: str, port: int) -> None:
    try:
        check_listen_port(
            host,
            port,
            "OPASKA_MQTT_EMBEDDED_PORT (e.g. 1884)",
            what="the embedded MQTT broker",
            hint=(
                " (another MQTT broker, e.g. Mosquitto, may run there; to use it instead, it must require "
                f"passwords: OPASKA_MQTT_URL=mqtt://opaska-service:PASSWORD@{host}:{port}, docs/brokers.md)"
            ),
        )
    except StartupError as exc:
        raise BrokerStartError(str(exc)) from None


class EmbeddedBroker:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        credentials: CredentialStore,
        rules: TopicRules,
        connect_timeout_s: float = _DEFAULTS.embedded_connect_timeout_s,
        pending_per_address: int = _DEFAULTS.embedded_max_pending_per_address,
        enforce_topics: bool = True,
    ) -> None:
        """`enforce_topics=False` is for tests only: it proves the ACL tests can fail."""
        self.host = host
        self.port = port
        self._connect_timeout_s = connect_timeout_s
        self._pending_per_address = pending_per_address
        self._guard = BrokerGuard(credentials, rules)
        credentials.on_withdrawn(self._guard.forget_bands)
        self._enforce_topics = enforce_topics
        self._guard_id: str | None = None
        self._broker: Broker | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        check_port_free(self.host, self.port)
        # Loaded before the first CONNECT, so a reconnect storm does not start with a cold cache,
        # and a database that cannot be read stops the start instead of refusing every band.
        await self._guard.credentials.refresh()
        self._guard_id = register_guard(self._guard)
        plugins = broker_plugins(self._guard_id, enforce_topics=self._enforce_topics)
        try:
            broker = _AclBroker(
                _broker_config(self.host, self.port, plugins),
                guard=self._guard,
                connect_timeout_s=self._connect_timeout_s,
                pending_per_address=self._pending_per_address,
            )
            await broker.start()
        except Exception as exc:
            unregister_guard(self._guard_id)
            self._guard_id = None
            raise BrokerStartError(f"cannot start the embedded MQTT broker on {self.host}:{self.port}: {exc}") from exc
        self._broker = broker
        self._refresher = asyncio.create_task(self._keep_credentials_fresh(), name="embedded-broker-credentials")
        log.info("embedded MQTT broker (amqtt) listening on mqtt://%s:%d", self.host, self.port)

    async def _keep_credentials_fresh(self) -> None:
        # Without connects the cache would never reload, and a band whose credentials were revoked
        # (`opaska band revoke`, possibly from another process) would stay connected.
        credentials = self._guard.credentials
        while True:
            await asyncio.sleep(credentials.refresh_every_s)
            try:
                await credentials.refresh()
            except Exception as exc:
                log.warning("embedded broker: cannot reload band credentials (%s); retrying", type(exc).__name__)

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
        if self._guard_id is not None:
            unregister_guard(self._guard_id)
            self._guard_id = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"
