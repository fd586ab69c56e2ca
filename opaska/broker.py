"""The broker the platform runs on: the embedded one started (Mosquitto as a child when the machine
has it, else amqtt), or an external one checked."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.anonymous_probe import admits_anonymous
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from core.settings import Settings
from core.startup import StartupError
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import BrokerStartError, EmbeddedBroker
from gateway.broker.mosquitto_child import MosquittoChild
from gateway.broker.mosquitto_config import INSTALL_HINT, find_mosquitto
from gateway.topics import TopicScheme

log = logging.getLogger(__name__)


async def refuse_open_broker(settings: Settings, endpoint: MqttEndpoint) -> None:
    """An external broker must not admit anonymous clients; only a lab may say otherwise."""
    try:
        open_to_anyone = await admits_anonymous(endpoint, protocol=settings.mqtt.effective_protocol)
    except MqttError:
        return  # unreachable: the gateway's own connect says so, with its hint
    if not open_to_anyone:
        return
    where = f"{endpoint.host}:{endpoint.port}"
    if settings.mqtt.allow_insecure_broker:
        log.warning(
            "SECURITY: the MQTT broker at %s accepts clients without a password: anyone who reaches it can "
            "raise or read alarms. Allowed only because allow_insecure_broker is set (a lab, never a centre).",
            where,
        )
        return
    raise StartupError(
        f"the MQTT broker at {where} accepts clients without a username and password: anyone who can reach it "
        "could raise an alarm as any band, read every band's messages and take over the gateway's client id. "
        "Turn anonymous access off (Mosquitto: `allow_anonymous false` with a password file, as "
        "config/mosquitto.conf ships; EMQX: enable authentication) and give opaska the service account in "
        "OPASKA_MQTT_URL (mqtt://opaska-service:PASSWORD@host:port); see docs/brokers.md. For a lab only: "
        "--allow-insecure-broker (OPASKA_MQTT_ALLOW_INSECURE_BROKER=true)."
    )


class RunningBroker(Protocol):
    """The embedded broker `opaska run` started (amqtt, or a Mosquitto child), stopped at the end."""

    async def bands_changed(self) -> None:
        """Bands were just registered (the demo's): they can log in once this returns."""

    async def stop(self) -> None: ...


class _Amqtt:
    def __init__(self, broker: EmbeddedBroker) -> None:
        self._broker = broker

    async def bands_changed(self) -> None:
        """Nothing to do: amqtt looks a username it does not know up in the registry at its CONNECT."""

    async def stop(self) -> None:
        await self._broker.stop()


_AMQTT = (
    "the embedded MQTT broker is amqtt, which is for demos and small trials only (it slows down past a few "
    "hundred bands: SOS p99 10 s at 1,200 bands)"
)


def _say_amqtt_is_for_demos(settings: Settings) -> None:
    if settings.mqtt.embedded_broker == "amqtt":
        why = (
            '[mqtt] embedded_broker = "amqtt" (OPASKA_MQTT_EMBEDDED_BROKER) chose it; "auto" runs Mosquitto '
            "where the machine has it (`apt install mosquitto`, or `make system-deps`)"
        )
    else:
        why = (
            "no mosquitto program on PATH or in /usr/sbin: for a centre install it (`apt install mosquitto`, "
            "or `make system-deps`) and `opaska run` runs it by itself"
        )
    log.warning("%s; %s", _AMQTT, why)


async def start_embedded_broker(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> tuple[RunningBroker, MqttEndpoint, MqttEndpoint]:
    """The embedded broker, the platform's own way into it, and the bands' (no credentials)."""
    # A new service password at every start: only this process's own parts ever know it,
    # so there is nothing to configure and nothing to leak.
    service_password = secrets.token_urlsafe(24)
    choice = settings.mqtt.embedded_broker
    binary = find_mosquitto() if choice != "amqtt" else None
    if binary is not None:
        return await _start_mosquitto(settings, sessions, binary, service_password)
    if choice == "mosquitto":
        raise StartupError(
            f'[mqtt] embedded_broker = "mosquitto" (OPASKA_MQTT_EMBEDDED_BROKER) but there is no mosquitto program '
            f"on PATH or in /usr/sbin: {INSTALL_HINT}; or set it to auto or amqtt"
        )
    return await _start_amqtt(settings, sessions, service_password)


async def _start_mosquitto(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], binary: str, service_password: str
) -> tuple[RunningBroker, MqttEndpoint, MqttEndpoint]:
    mqtt = settings.mqtt
    # One directory per port: two opaska on one machine never share a port, and a restart on the
    # same port finds its persistence file (the gateway's persistent session) again.
    child = MosquittoChild(
        binary,
        host=mqtt.embedded_host,
        port=mqtt.embedded_port,
        workdir=Path(mqtt.embedded_state_dir) / f"mosquitto-{mqtt.embedded_port}",
        topics=TopicScheme(mqtt.topic_root),
        sessions=sessions,
        service_username=mqtt.service_username,
        service_password=service_password,
    )
    await child.start()
    log.info(
        "embedded MQTT broker: Mosquitto (%s, pid %s), bands on %s, the platform on 127.0.0.1:%d, files in %s/",
        binary,
        child.pid,
        child.url,
        child.service_port,
        child.workdir,
    )
    return child, child.service_endpoint, parse_mqtt_url(child.url)


async def _start_amqtt(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], service_password: str
) -> tuple[RunningBroker, MqttEndpoint, MqttEndpoint]:
    _say_amqtt_is_for_demos(settings)
    credentials = CredentialStore(
        sessions, service_username=settings.mqtt.service_username, service_password=service_password
    )
    broker = EmbeddedBroker(
        settings.mqtt.embedded_host,
        settings.mqtt.embedded_port,
        credentials=credentials,
        rules=TopicRules(TopicScheme(settings.mqtt.topic_root)),
        connect_timeout_s=settings.mqtt.embedded_connect_timeout_s,
        pending_per_address=settings.mqtt.embedded_max_pending_per_address,
    )
    try:
        await broker.start()
    except BrokerStartError as exc:
        raise StartupError(str(exc)) from None
    endpoint = dataclasses.replace(
        parse_mqtt_url(broker.url), username=settings.mqtt.service_username, password=service_password
    )
    return _Amqtt(broker), endpoint, parse_mqtt_url(broker.url)
