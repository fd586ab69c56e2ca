"""The embedded amqtt broker, for the demo and small centres.

It matches every message against every subscription and does not resend in-flight messages to a
reconnecting subscriber; the band's repeat-until-`alarm_received` is what keeps alarms safe on it.
Production runs Mosquitto (config/mosquitto.conf) or EMQX.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

from opaska.startup import StartupError, check_listen_port

log = logging.getLogger(__name__)


class BrokerStartError(Exception):
    """The embedded broker could not start; the message says why and what to do."""


def _broker_config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 20000}},
        # Deliberately no PacketLoggerPlugin: it writes passwords at DEBUG.
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


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
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    async def start(self) -> None:
        check_port_free(self.host, self.port)
        broker = Broker(_broker_config(self.host, self.port))
        try:
            await broker.start()
        except Exception as exc:
            raise BrokerStartError(f"cannot start the embedded MQTT broker on {self.host}:{self.port}: {exc}") from exc
        self._broker = broker
        log.info("embedded MQTT broker (amqtt) listening on mqtt://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"
