"""Running the platform: all parts in one process (`opaska run`) or each part on its own."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alarm_center.engine import run_engine
from alarm_center.escalation.policy import PolicySource
from alarm_center.live import AlarmFeed, LiveWake
from alarm_center.notify.status_link import StatusLinks
from alarm_center.voice.telephone import OfflineTelephone
from alarm_center.voice.twilio_telephone import TwilioTelephone
from console.context import ConsoleContext, TwilioHooks
from console.data_key import load_data_key
from core import health
from core.clock import Clock, SystemClock
from core.db.engine import make_session_factory
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from core.settings import Settings
from core.startup import StartupError, check_listen_port
from gateway.broker.acl import gateway_client_id
from gateway.broker.emqx_hooks import EmqxHooks
from gateway.broker.mosquitto_auth import keep_mosquitto_auth_in_step
from gateway.runner import Gateway
from gateway.topics import TopicScheme
from opaska.adapters import check_adapter_ports, start_adapters
from opaska.broker import RunningBroker, refuse_open_broker, start_embedded_broker
from opaska.canary_probe import canary_probe
from opaska.console_app import console_app
from opaska.running import until_signalled
from opaska.startup import open_database

log = logging.getLogger(__name__)

SHARED_SESSION_EXPIRY_S = 15


class _QuietServer(uvicorn.Server):
    """uvicorn, minus its own signal handling: the platform stops all parts together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _say_if_test_mode(settings: Settings) -> None:
    """One WARNING line at start when SMS and calls are only recorded: nobody must take a demo
    setup for a centre that reaches relatives."""
    if settings.notify.mode == "outbox":
        log.warning(
            'TEST MODE (tryb próbny): [notify] mode = "outbox": SMS and calls are recorded, NOT sent; '
            'set [notify] mode = "twilio" and [twilio] to reach relatives'
        )
    elif not settings.voice.unknown_caller_municipality:
        # Such an alarm has no municipality: only administrators see it, and the caller waits.
        log.warning(
            "[voice] unknown_caller_municipality is empty: a call to the centre from an unknown number raises an "
            "alarm only administrators see; set it to the code of the municipality the operators serve"
        )


def _check_console_port(settings: Settings) -> None:
    check_listen_port(settings.console.host, settings.console.port, "OPASKA_CONSOLE_PORT")


def _check_tls(settings: Settings) -> None:
    """A certificate or key that cannot be read stops the start with a sentence, not a traceback
    from inside uvicorn."""
    console = settings.console
    if not console.tls_cert_file:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(console.tls_cert_file, console.tls_key_file)
    except (OSError, ssl.SSLError) as error:
        raise StartupError(
            f"the console's certificate or key cannot be used ([console] tls_cert_file={console.tls_cert_file!r}, "
            f"tls_key_file={console.tls_key_file!r}): {error}"
        ) from None


def _console_server(settings: Settings, context: ConsoleContext) -> uvicorn.Server:
    _check_tls(settings)
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
        # X-Forwarded-* are read by console/forwarded.py from [console] trusted_proxies only;
        # uvicorn's own reading (127.0.0.1 trusted by default) would let any local process pose
        # as any address, or as https.
        proxy_headers=False,
        ssl_certfile=settings.console.tls_cert_file or None,
        ssl_keyfile=settings.console.tls_key_file or None,
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
        client_id=gateway_client_id(settings.mqtt),
        protocol=settings.mqtt.effective_protocol,
        # In a shared group the broker keeps handing a dead gateway's session its turn until the
        # session expires (measured: SOS answered after 51-66 s instead of 21 s). A short expiry
        # drops it from the group; the bands' repeats carry what it held (tests/faults/test_many_gateways.py).
        session_expiry_s=(
            min(settings.mqtt.session_expiry_s, SHARED_SESSION_EXPIRY_S)
            if settings.mqtt.shared_group
            else settings.mqtt.session_expiry_s
        ),
        keepalive_s=settings.mqtt.keepalive_s,
        bands=settings.bands,
        alarms=settings.alarms,
        on_alarm_stored=(lambda _stored: on_stored()) if on_stored else None,
        canary_every_s=settings.mqtt.canary_every_s,
        canary_deaf_after_s=settings.mqtt.canary_deaf_after_s,
        policies=PolicySource(settings.escalation.policies_path),
        shared_group=settings.mqtt.shared_group,
    )


async def _connect_gateway(gateway: Gateway, endpoint: MqttEndpoint) -> None:
    try:
        await gateway.connect()
    except MqttError as exc:
        hint = "" if endpoint.username else " (check OPASKA_MQTT_URL)"
        raise StartupError(f"{exc}{hint}") from None


async def run_all(settings: Settings, *, demo: bool = False, clock: Clock | None = None) -> None:
    """`opaska run`: broker (embedded unless one is configured), gateway, engine and console."""
    clock = clock or SystemClock()
    # Before migrating or starting the broker: a taken port is the likeliest start-up failure.
    _check_console_port(settings)
    check_adapter_ports(settings)
    db = await open_database(settings, migrate=True)
    broker: RunningBroker | None = None
    telephone: TwilioTelephone | None = None
    try:
        sessions = make_session_factory(db)
        if settings.mqtt.embedded:
            # Mosquitto's bands and platform listen on different ports: the demo bands need the first.
            broker, endpoint, band_endpoint = await start_embedded_broker(settings, sessions)
        else:
            endpoint = band_endpoint = parse_mqtt_url(settings.mqtt.url)
            await refuse_open_broker(settings, endpoint)
        wake = LiveWake()
        # Twilio's HTTP session is opened here, inside the running loop; closed in `finally`.
        telephone = TwilioTelephone.from_settings(settings)
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions, wake),
            twilio_hooks=TwilioHooks.from_settings(settings, clock),
            settings=settings.console,
            bands=settings.bands,
            reports=settings.reports,
            status_links=StatusLinks.from_settings(settings),
            # One machine, no key configured: make one in var/ (the demo, a small centre).
            data_key=load_data_key(settings.console, create=True),
            telephone=telephone or OfflineTelephone(),
            voice=settings.voice,
        )
        context.canary = canary_probe(
            settings, sessions, context.feed, clock, band_endpoint if settings.mqtt.embedded else None
        )
        gateway = _gateway(settings, endpoint, sessions, clock, wake.poke)
        await _connect_gateway(gateway, endpoint)
        health.PROCESS.add_check("broker", gateway.broker_state)
        adapters = await start_adapters(settings, gateway, sessions, endpoint)
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

            bands = await seed_demo(sessions, clock, data_key=context.data_key)
            save_demo_credentials(bands)
            if broker is not None:
                await broker.bands_changed()
            parts["demo bands"] = run_demo_bands(settings, band_endpoint, bands)
        log.info(
            "opaska is running: console %s://%s:%d, MQTT %s, database %s",
            "https" if settings.console.tls_cert_file else "http",
            settings.console.host,
            settings.console.port,
            endpoint,
            "SQLite" if settings.database.is_sqlite else "PostgreSQL",
        )
        _say_if_test_mode(settings)

        async def stop() -> None:
            server.should_exit = True
            await adapters.close()
            await gateway.close()

        await until_signalled(parts, stop)
    finally:
        if telephone is not None:
            await telephone.aclose()
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
    check_adapter_ports(settings)
    server = _serve_metrics(settings, settings.metrics.gateway_port, "OPASKA_METRICS_GATEWAY_PORT")
    db = await _open(settings)
    try:
        sessions = make_session_factory(db)
        endpoint = _external_endpoint(settings)
        await refuse_open_broker(settings, endpoint)
        gateway = _gateway(settings, endpoint, sessions, SystemClock(), None)
        await _connect_gateway(gateway, endpoint)
        health.PROCESS.add_check("database", health.database_check(sessions))
        health.PROCESS.add_check("broker", gateway.broker_state)
        adapters = await start_adapters(settings, gateway, sessions, endpoint)
        log.info("gateway running: MQTT %s", endpoint)

        async def stop() -> None:
            if server is not None:
                server.should_exit = True
            await adapters.close()
            await gateway.close()

        parts = _with_health_server({"gateway": gateway.run(), **adapters.parts}, server)
        if settings.mqtt.mosquitto_auth_dir:
            parts["mosquitto auth"] = keep_mosquitto_auth_in_step(settings, sessions)
        await until_signalled(parts, stop)
    finally:
        await db.dispose()


async def run_engine_process(settings: Settings) -> None:
    server = _serve_metrics(settings, settings.metrics.engine_port, "OPASKA_METRICS_ENGINE_PORT")
    db = await _open(settings)
    try:
        sessions = make_session_factory(db)
        health.PROCESS.add_check("database", health.database_check(sessions))
        log.info("engine running")
        _say_if_test_mode(settings)

        async def stop() -> None:
            if server is not None:
                server.should_exit = True

        parts = _with_health_server({"engine": run_engine(settings, sessions, SystemClock())}, server)
        await until_signalled(parts, stop)
    finally:
        await db.dispose()


async def run_console(settings: Settings) -> None:
    _check_console_port(settings)
    db = await _open(settings)
    telephone = TwilioTelephone.from_settings(settings)
    try:
        sessions = make_session_factory(db)
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions),
            twilio_hooks=TwilioHooks.from_settings(settings),
            settings=settings.console,
            bands=settings.bands,
            reports=settings.reports,
            status_links=StatusLinks.from_settings(settings),
            data_key=load_data_key(settings.console, create=False),
            telephone=telephone or OfflineTelephone(),
            voice=settings.voice,
        )
        context.canary = canary_probe(settings, sessions, context.feed, SystemClock())
        server = _console_server(settings, context)
        log.info(
            "console running: %s://%s:%d",
            "https" if settings.console.tls_cert_file else "http",
            settings.console.host,
            settings.console.port,
        )

        async def stop() -> None:
            server.should_exit = True

        await until_signalled({"console": server.serve()}, stop)
    finally:
        if telephone is not None:
            await telephone.aclose()
        await db.dispose()
