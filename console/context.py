"""What the console needs from the rest of the platform, handed in at start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.topics import TopicScheme
from opaska.mqtt.endpoint import parse_mqtt_url
from opaska.settings import Settings


@dataclass(frozen=True)
class MqttHooks:
    """EMQX's HTTP authentication and authorisation hooks: who may connect, and where."""

    token: str
    credentials: CredentialStore
    rules: TopicRules

    @classmethod
    def from_settings(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> MqttHooks | None:
        """None (hooks answer 404) unless OPASKA_MQTT_HOOK_TOKEN is set."""
        mqtt = settings.mqtt
        if not mqtt.hook_token:
            return None
        # The service account logs in to EMQX with the user and password of OPASKA_MQTT_URL.
        password = (parse_mqtt_url(mqtt.url).password if mqtt.url else None) or ""
        credentials = CredentialStore(sessions, service_username=mqtt.service_username, service_password=password)
        return cls(mqtt.hook_token, credentials, TopicRules(TopicScheme(mqtt.topic_root)))


@dataclass
class ConsoleContext:
    session_factory: async_sessionmaker[AsyncSession]
    feed: AlarmFeed
    # True when this process also runs the feed's tail (the console owns it); False in tests that drive it.
    run_feed: bool = True
    mqtt_hooks: MqttHooks | None = None
