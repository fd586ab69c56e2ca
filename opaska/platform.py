"""Running the platform: all parts in one process (`opaska run`) or each part on its own."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alarm_center.engine import run_engine
from alarm_center.escalation.policy import PolicySource
from alarm_center.live import AlarmFeed, LiveWake
from console.context import ConsoleContext, TwilioHooks
from console.data_key import load_data_key
from core import health
from core.clock import Clock, SystemClock
from core.db.engine import make_session_factory
from core.mqtt.anonymous_probe import admits_anonymous
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from core.settings import Settings
from core.startup import StartupError, check_listen_port
from gateway.broker.acl import TopicRules, platform_client_id
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import BrokerStartError, EmbeddedBroker
from gateway.broker.emqx_hooks import EmqxHooks
from gateway.broker.mosquitto_auth import keep_mosquitto_auth_in_step
from gateway.ingress.directory import DeviceDirectory
from gateway.ingress.traccar_client import TraccarIngress
from gateway.ingress.watch_server import WatchServer
from gateway.runner import Gateway
from gateway.topics import TopicScheme
from opaska.console_app import console_app
from opaska.startup import open_database

log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn, minus its own signal handling: the platform stops all parts together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _check_console_port(settings: Settings) -> None:
    check_listen_port(settings.console.host, settings.console.port, "OPASKA_CONSOLE_PORT")


def _console_server(settings: Settings, context: ConsoleContext) -> uvicorn.Server:
    config = uvicorn.Config(
        console_app(
            context,
            emqx_hooks=EmqxHooks.from_settings(settings, context.session_factory),
            health=health.PROCESS,
        ),
        host=settings.console.host,
        port=settings.console.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    return _QuietServer(config)


def _gateway(
    settings: Settings,
    endpoint: MqttEndpoint,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    on_stored: Callable[[], None] | None,
) -> Gateway:
    return Gateway(
        endpoint=endpoint,
        topics=TopicScheme(settings.mqtt.topic_root),
        session_factory=sessions,
        clock=clock,
        client_id=platform_client_id(settings.mqtt.client_id_prefix, "gateway"),
        protocol=settings.mqtt.effective_protocol,
        session_expiry_s=settings.mqtt.session_expiry_s,
        keepalive_s=settings.mqtt.keepalive_s,
        bands=settings.bands,
        alarms=settings.alarms,
        on_alarm_stored=(lambda _stored: on_stored()) if on_stored else None,
        canary_every_s=settings.mqtt.canary_every_s,
        canary_deaf_after_s=settings.mqtt.canary_deaf_after_s,
        policies=PolicySource(settings.escalation.policies_path),
    )


def _check_adapter_ports(settings: Settings) -> None:
    if settings.watch.enabled:
        check_listen_port(settings.watch.host, settings.watch.port, "OPASKA_WATCH_PORT", what="the watch receiver")


@dataclasses.dataclass
class _Adapters:
    """The ingress adapters a centre enabled ([traccar], [watch]), ready to run as parts."""

    parts: dict[str, Awaitable[None]] = dataclasses.field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = dataclasses.field(default_factory=list)

    async def close(self) -> None:
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()


async def _start_adapters(
    settings: Settings, gateway: Gateway, sessions: async_sessionmaker[AsyncSession], endpoint: MqttEndpoint
) -> _Adapters:
    adapters = _Adapters()
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


async def _refuse_open_broker(settings: Settings, endpoint: MqttEndpoint) -> None:
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


async def _connect_gateway(gateway: Gateway, endpoint: MqttEndpoint) -> None:
    try:
        await gateway.connect()
    except MqttError as exc:
        hint = "" if endpoint.username else " (check OPASKA_MQTT_URL)"
        raise StartupError(f"{exc}{hint}") from None


async def _until_signalled(parts: dict[str, Awaitable[None]], on_stop: Callable[[], Awaitable[None]]) -> None:
    """Run the parts until SIGINT/SIGTERM or until one of them fails; then stop them all."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: dict[asyncio.Future[Any], str] = {
        health.PROCESS.watch(asyncio.ensure_future(awaitable), name): name for name, awaitable in parts.items()
    }
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("%s stopped: %s", tasks[task], task.exception(), exc_info=task.exception())
                raise StartupError(f"{tasks[task]} failed: {task.exception()}")
            if task is not stopper:
                log.error("%s stopped unexpectedly", tasks[task])
        log.info("stopping")
    finally:
        # The loops of most parts only end by cancellation: cancel them first, so none of them
        # reconnects to a broker that is shutting down. The console's HTTP server finishes by
        # itself once told (closing WebSockets cleanly).
        graceful = [task for task, name in tasks.items() if name == "console"]
        others = [task for task in tasks if task not in graceful]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await on_stop()
        if graceful:
            await asyncio.wait(graceful, timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_all(settings: Settings, *, demo: bool = False, clock: Clock | None = None) -> None:
    """`opaska run`: broker (embedded unless one is configured), gateway, engine and console."""
    clock = clock or SystemClock()
    # Before migrating or starting the broker: a taken port is the likeliest start-up failure.
    _check_console_port(settings)
    _check_adapter_ports(settings)
    db = await open_database(settings, migrate=True)
    broker: EmbeddedBroker | None = None
    try:
        sessions = make_session_factory(db)
        if settings.mqtt.embedded:
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
        else:
            endpoint = parse_mqtt_url(settings.mqtt.url)
            await _refuse_open_broker(settings, endpoint)
        wake = LiveWake()
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions, wake),
            twilio_hooks=TwilioHooks.from_settings(settings, clock),
            settings=settings.console,
            bands=settings.bands,
            # One machine, no key configured: make one in var/ (the demo, a small centre).
            data_key=load_data_key(settings.console, create=True),
        )
        gateway = _gateway(settings, endpoint, sessions, clock, wake.poke)
        await _connect_gateway(gateway, endpoint)
        health.PROCESS.add_check("broker", gateway.broker_state)
        adapters = await _start_adapters(settings, gateway, sessions, endpoint)
        server = _console_server(settings, context)
        parts: dict[str, Awaitable[None]] = {
            "gateway": gateway.run(),
            # The console audits escalation: one auditor per process is enough.
            "engine": run_engine(settings, sessions, clock, audit=False),
            "console": server.serve(),
            **adapters.parts,
        }
        if settings.mqtt.mosquitto_auth_dir:
            parts["mosquitto auth"] = keep_mosquitto_auth_in_step(settings, sessions)
        if demo:
            from opaska.demo import run_demo_bands, save_demo_credentials, seed_demo

            bands = await seed_demo(sessions, clock)
            save_demo_credentials(bands)
            parts["demo bands"] = run_demo_bands(settings, endpoint, bands)
        log.info(
            "opaska is running: console http://%s:%d, MQTT %s, database %s",
            settings.console.host,
            settings.console.port,
            endpoint,
            "SQLite" if settings.database.is_sqlite else "PostgreSQL",
        )

        async def stop() -> None:
            server.should_exit = True
            await adapters.close()
            await gateway.close()

        await _until_signalled(parts, stop)
    finally:
        if broker is not None:
            await broker.stop()
        await db.dispose()


async def _open(settings: Settings) -> AsyncEngine:
    return await open_database(settings, migrate=False)


def _external_endpoint(settings: Settings) -> MqttEndpoint:
    if settings.mqtt.embedded:
        # A lone gateway has no embedded broker to talk to: assume the usual local one.
        return MqttEndpoint(settings.mqtt.embedded_host, settings.mqtt.embedded_port)
    return parse_mqtt_url(settings.mqtt.url)


def _serve_metrics(settings: Settings, port: int, setting: str) -> uvicorn.Server | None:
    """/metrics, /healthz and /readyz for a process without the console; run it as a part."""
    if port == 0:
        return None
    check_listen_port(settings.metrics.host, port, setting, what="the metrics endpoint")
    log.info("metrics at http://%s:%d/metrics (and /healthz, /readyz)", settings.metrics.host, port)
    return health.health_server(health.PROCESS, settings.metrics.host, port)


def _with_health_server(parts: dict[str, Awaitable[None]], server: uvicorn.Server | None) -> dict[str, Awaitable[None]]:
    if server is not None:
        parts["health"] = server.serve()
    return parts


async def run_gateway(settings: Settings) -> None:
    _check_adapter_ports(settings)
    server = _serve_metrics(settings, settings.metrics.gateway_port, "OPASKA_METRICS_GATEWAY_PORT")
    db = await _open(settings)
    try:
        sessions = make_session_factory(db)
        endpoint = _external_endpoint(settings)
        await _refuse_open_broker(settings, endpoint)
        gateway = _gateway(settings, endpoint, sessions, SystemClock(), None)
        await _connect_gateway(gateway, endpoint)
        health.PROCESS.add_check("database", health.database_check(sessions))
        health.PROCESS.add_check("broker", gateway.broker_state)
        adapters = await _start_adapters(settings, gateway, sessions, endpoint)
        log.info("gateway running: MQTT %s", endpoint)

        async def stop() -> None:
            if server is not None:
                server.should_exit = True
            await adapters.close()
            await gateway.close()

        parts = _with_health_server({"gateway": gateway.run(), **adapters.parts}, server)
        if settings.mqtt.mosquitto_auth_dir:
            parts["mosquitto auth"] = keep_mosquitto_auth_in_step(settings, sessions)
        await _until_signalled(parts, stop)
    finally:
        await db.dispose()


async def run_engine_process(settings: Settings) -> None:
    server = _serve_metrics(settings, settings.metrics.engine_port, "OPASKA_METRICS_ENGINE_PORT")
    db = await _open(settings)
    try:
        sessions = make_session_factory(db)
        health.PROCESS.add_check("database", health.database_check(sessions))
        log.info("engine running")

        async def stop() -> None:
            if server is not None:
                server.should_exit = True

        parts = _with_health_server({"engine": run_engine(settings, sessions, SystemClock())}, server)
        await _until_signalled(parts, stop)
    finally:
        await db.dispose()


async def run_console(settings: Settings) -> None:
    _check_console_port(settings)
    db = await _open(settings)
    try:
        sessions = make_session_factory(db)
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions),
            twilio_hooks=TwilioHooks.from_settings(settings),
            settings=settings.console,
            bands=settings.bands,
            data_key=load_data_key(settings.console, create=False),
        )
        server = _console_server(settings, context)
        log.info("console running: http://%s:%d", settings.console.host, settings.console.port)

        async def stop() -> None:
            server.should_exit = True

        await _until_signalled({"console": server.serve()}, stop)
    finally:
        await db.dispose()
