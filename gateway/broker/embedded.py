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

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.session import Session

from gateway.broker.acl import TopicRules
from gateway.broker.amqtt_plugins import BrokerGuard, broker_plugins, register_guard, unregister_guard
from gateway.broker.credential_store import CredentialStore
from opaska.startup import StartupError, check_listen_port

log = logging.getLogger(__name__)


class BrokerStartError(Exception):
    """The embedded broker could not start; the message says why and what to do."""


def _broker_config(host: str, port: int, plugins: dict[str, Any]) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 20000}},
        # Deliberately no PacketLoggerPlugin: it writes passwords at DEBUG.
        "plugins": plugins,
    }


class _AclBroker(Broker):  # type: ignore[misc]  # amqtt ships no type hints (no py.typed)
    """amqtt's broker, minus one way around the topic ACL.

    When a client connects, amqtt 0.12.1 sends it the retained messages matching *every* filter
    any client has subscribed to, with no topic check: a band would get the gateway's view of
    every other band's retained status. Here each retained message is also checked as a delivery
    (RECEIVE) to the session it is sent to.
    """

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
            hint=f" (another MQTT broker, e.g. Mosquitto, may run there: use it with OPASKA_MQTT_URL=mqtt://{host}:{port})",
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
        enforce_topics: bool = True,
    ) -> None:
        """`enforce_topics=False` is for tests only: it proves the ACL tests can fail."""
        self.host = host
        self.port = port
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
            broker = _AclBroker(_broker_config(self.host, self.port, plugins))
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
