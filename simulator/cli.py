"""`opaska simulate`: a handful of virtual bands, or a fleet of thousands running a scenario."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from core.clock import SystemClock
from core.db.engine import make_session_factory
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from core.settings import Settings
from core.startup import StartupError
from gateway.broker.mosquitto_auth import MosquittoAuthFiles
from gateway.topics import TopicScheme
from opaska.demo import demo_secret
from opaska.startup import open_database
from simulator.band import VirtualBand
from simulator.fleet import Fleet
from simulator.mqtt311 import LinkError
from simulator.provision import provision_fleet, read_secrets, registered, simulated_serials, write_secrets
from simulator.scenarios import print_report, run_scenario


async def simulate(
    settings: Settings,
    *,
    bands: list[str],
    press: str | None,
    heartbeats: int,
    interval_s: float,
    timeout_s: float,
    broker: str | None = None,
) -> int:
    """A few named bands; on `broker` (the bands' listener) if given, else the configured broker."""
    if broker:
        endpoint = parse_mqtt_url(broker)
    elif settings.mqtt.embedded:
        endpoint = MqttEndpoint(settings.mqtt.embedded_host, settings.mqtt.embedded_port)
    else:
        endpoint = parse_mqtt_url(settings.mqtt.url)
    topics = TopicScheme(settings.mqtt.topic_root)
    virtual = []
    for spec in bands:
        serial, _, secret = spec.partition(":")
        secret = secret or demo_secret(serial) or ""
        if not secret:
            raise StartupError(f"band {serial}: give its secret as --band {serial}:SECRET (issued at registration)")
        virtual.append(
            VirtualBand(endpoint, topics, serial, password=secret or None, protocol=settings.mqtt.effective_protocol)
        )
    try:
        for band in virtual:
            await band.start()
    except MqttError as exc:
        raise StartupError(str(exc)) from None
    print(f"{len(virtual)} band(s) connected to {endpoint}")
    try:
        for _ in range(heartbeats):
            for band in virtual:
                await band.heartbeat()
            await asyncio.sleep(interval_s)
        if press:
            started = time.monotonic()
            answers = await asyncio.gather(
                *(band.press(press, timeout=timeout_s) for band in virtual), return_exceptions=True
            )
            failed = 0
            for band, answer in zip(virtual, answers, strict=True):
                if isinstance(answer, BaseException):
                    failed += 1
                    print(f"{band.serial}: {press} NOT acknowledged ({type(answer).__name__})")
                else:
                    print(
                        f"{band.serial}: {press} received by the platform, alarm {answer.get('alarm_id')} "
                        f"({time.monotonic() - started:.2f} s, {sum(1 for k, _ in band.sent if k == press)} send(s))"
                    )
            return 1 if failed else 0
        return 0
    finally:
        for band in virtual:
            await band.stop()


async def simulate_fleet(
    settings: Settings,
    *,
    scenario: str,
    bands: int,
    seed: int,
    duration_s: float | None,
    broker: str | None,
    prefix: str,
    secrets_file: str | None,
    heartbeat_interval_s: float,
    mosquitto_files: str | None,
    json_out: str | None,
) -> int:
    """A fleet of N bands (provisioned on first use) runs one scenario; prints its report."""
    endpoint = _band_endpoint(settings, broker)
    path = Path(secrets_file or f"var/simulated-bands-{prefix}.tsv")
    credentials = read_secrets(path)[:bands] if path.exists() else []  # noqa: ASYNC240 - before any I/O starts
    if len(credentials) < bands or mosquitto_files:
        engine = await open_database(settings, migrate=False)
        try:
            sessions = make_session_factory(engine)
            if len(credentials) < bands:
                wanted = simulated_serials(bands, prefix)
                if await registered(sessions, wanted):
                    raise StartupError(
                        f"bands {prefix}-… are registered but {path} lacks their secrets: use another --prefix"
                    )
                started = time.monotonic()
                credentials = (await provision_fleet(sessions, SystemClock(), count=bands, prefix=prefix)).credentials
                write_secrets(path, credentials)
                print(f"{bands} simulated bands registered in {time.monotonic() - started:.1f} s; secrets in {path}")
            if mosquitto_files:
                files = MosquittoAuthFiles.from_settings(settings, directory=Path(mosquitto_files), pid_file=None)
                result = await files.sync(sessions)
                print(f"Mosquitto password and ACL files in {mosquitto_files} ({result.bands} bands)")
        finally:
            await engine.dispose()
    fleet = Fleet(
        credentials,
        host=endpoint.host,
        port=endpoint.port,
        topics=TopicScheme(settings.mqtt.topic_root),
        seed=seed,
        heartbeat_interval_s=heartbeat_interval_s,
    )
    started = time.monotonic()
    try:
        await fleet.start()
    except LinkError as exc:
        raise StartupError(str(exc)) from None
    print(f"{bands} bands connected to {endpoint.host}:{endpoint.port} in {time.monotonic() - started:.1f} s")
    duration = duration_s if duration_s is not None else DEFAULT_DURATION_S
    try:
        report = await run_scenario(
            fleet, scenario, seed=seed, duration_s=duration, progress=sys.stderr if duration >= 10 else None
        )
    finally:
        await fleet.stop()
    print_report(report)
    if json_out:
        Path(json_out).write_text(json.dumps(report.as_dict(), indent=2))  # noqa: ASYNC240 - after the run
    return 1 if report.unacknowledged else 0


DEFAULT_DURATION_S = 60.0


def _band_endpoint(settings: Settings, broker: str | None) -> MqttEndpoint:
    """Bands connect to --broker (Mosquitto's band listener) or to the embedded broker."""
    if broker:
        return parse_mqtt_url(broker)
    if settings.mqtt.embedded:
        return MqttEndpoint(settings.mqtt.embedded_host, settings.mqtt.embedded_port)
    raise StartupError("with an external broker, give its band listener as --broker mqtt://HOST:PORT")
