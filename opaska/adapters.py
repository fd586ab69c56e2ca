"""The ingress adapters a centre enabled ([watch], [traccar]), started as parts of a process."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint
from core.settings import Settings
from core.startup import StartupError, check_listen_port
from gateway.broker.acl import platform_client_id
from gateway.ingress.directory import DeviceDirectory
from gateway.ingress.traccar_client import TraccarIngress
from gateway.ingress.watch_server import WatchServer
from gateway.runner import Gateway

log = logging.getLogger(__name__)


def check_adapter_ports(settings: Settings) -> None:
    if settings.watch.enabled:
        check_listen_port(settings.watch.host, settings.watch.port, "OPASKA_WATCH_PORT", what="the watch receiver")


@dataclasses.dataclass
class Adapters:
    """The ingress adapters a centre enabled ([traccar], [watch]), ready to run as parts."""

    parts: dict[str, Awaitable[None]] = dataclasses.field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = dataclasses.field(default_factory=list)

    async def close(self) -> None:
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()


async def start_adapters(
    settings: Settings, gateway: Gateway, sessions: async_sessionmaker[AsyncSession], endpoint: MqttEndpoint
) -> Adapters:
    adapters = Adapters()
    low = settings.bands.battery_low_pct
    if settings.watch.enabled:
        watch = WatchServer(settings.watch, gateway, DeviceDirectory(sessions, "watch"), battery_low_pct=low)
        try:
            await watch.start()
        except OSError as exc:
            where = f"{settings.watch.host}:{settings.watch.port}"
            raise StartupError(
                f"cannot start the watch receiver on {where} ({exc.strerror}); pick another port with OPASKA_WATCH_PORT"
            ) from None
        adapters.parts["watch receiver"] = watch.run()
        adapters.closers.append(watch.close)
    if settings.traccar.enabled:
        traccar = TraccarIngress(
            settings.traccar,
            gateway,
            DeviceDirectory(sessions, "traccar"),
            endpoint=endpoint,
            topic_root=settings.mqtt.topic_root,
            client_id=platform_client_id(settings.mqtt.client_id_prefix, "traccar"),
            protocol=settings.mqtt.effective_protocol,
            session_expiry_s=settings.mqtt.session_expiry_s,
            keepalive_s=settings.mqtt.keepalive_s,
            battery_low_pct=low,
        )
        try:
            await traccar.connect()
        except MqttError as exc:
            raise StartupError(f"Traccar adapter: {exc}") from None
        if settings.mqtt.embedded:
            log.warning(
                "Traccar adapter on the embedded broker: Traccar itself cannot log in to it "
                "(its service password changes at each start); use Mosquitto (docs/devices/traccar.md)"
            )
        adapters.parts["traccar adapter"] = traccar.run()
        adapters.closers.append(traccar.close)
    return adapters
