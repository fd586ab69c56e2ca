"""`opaska simulate`: a handful of virtual bands from the command line."""

from __future__ import annotations

import asyncio
import time

from gateway.topics import TopicScheme
from opaska.demo import demo_secret
from opaska.mqtt.client import MqttError
from opaska.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from opaska.settings import Settings
from opaska.startup import StartupError
from simulator.band import VirtualBand


async def simulate(
    settings: Settings, *, bands: list[str], press: str | None, heartbeats: int, interval_s: float, timeout_s: float
) -> int:
    endpoint = (
        MqttEndpoint(settings.mqtt.embedded_host, settings.mqtt.embedded_port)
        if settings.mqtt.embedded
        else parse_mqtt_url(settings.mqtt.url)
    )
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
