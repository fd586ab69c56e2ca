"""The broker the platform runs on: the embedded one started, or an external one checked."""

from __future__ import annotations

import dataclasses
import logging
import secrets

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.anonymous_probe import admits_anonymous
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from core.settings import Settings
from core.startup import StartupError
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import BrokerStartError, EmbeddedBroker
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


async def start_embedded_broker(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> tuple[EmbeddedBroker, MqttEndpoint]:
    """The embedded broker, and the platform's own way into it."""
    # A new service password at every start: only this process's own parts ever know it,
    # so there is nothing to configure and nothing to leak.
    service_password = secrets.token_urlsafe(24)
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
    return broker, endpoint
