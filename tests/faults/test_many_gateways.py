"""Several of each part on one Mosquitto and one database: three `opaska gateway` sharing the band
traffic (one shared group, a name each), two `opaska engine` and two `opaska console`. A burst of
SOS (one per band), each resident with a relative to be texted by the outbox; one gateway and one
engine SIGKILLed in the middle. Every alarm exactly once, every relative texted exactly once, and
the bands all acknowledged within their repeat schedule by the gateways left.

Mosquitto keeps handing the killed gateway its turn of the shared subscription while its
persistent session lives (300 s here): those copies wait in the dead session, and it is the
band's repeat (same message id, until `alarm_received`) that reaches a live gateway.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from subprocess import Popen

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.notify.model import Notification, NotificationStatus
from core.clock import FakeClock
from gateway.topics import TopicScheme
from registry.model import Band, Contact
from simulator.fake_twilio.server import FakeTwilio
from tests.faults.burst import PRESS_TIMEOUT_S, Platform, platform
from tests.support.require import free_port
from tests.test_engine_restart import POLICIES

pytestmark = [pytest.mark.asyncio, pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(480)]

GATEWAYS, ENGINES, CONSOLES = 3, 2, 2
NOTIFIED_WITHIN_S = 180.0


def _phone(index: int) -> str:
    # One number per resident: a second SMS to anyone shows at the fake Twilio by number.
    return f"+48690{index:06d}"


async def _one_contact_each(sessions: async_sessionmaker[AsyncSession], fault: Platform) -> dict[str, str]:
    """A relative for every band's resident; serial -> the relative's number."""
    assert fault.fleet is not None
    serials = [band.serial for band in fault.fleet.bands]
    async with sessions() as session, session.begin():
        rows = (await session.execute(select(Band.serial, Band.resident_id).where(Band.serial.in_(serials)))).all()
        phones = {serial: _phone(i) for i, (serial, _) in enumerate(rows)}
        await session.execute(
            insert(Contact),
            [
                {
                    "resident_id": resident_id,
                    "name": "Krewny Testowy",
                    "relation": "syn",
                    "phone": phones[serial],
                    "priority": 1,
                    "created_at": fault.clock.now(),
                }
                for serial, resident_id in rows
            ],
        )
    return phones


@asynccontextmanager
async def _twilio_env(fault: Platform, policies: Path) -> AsyncIterator[tuple[FakeTwilio, dict[str, str]]]:
    policies.write_text(POLICIES)
    async with FakeTwilio() as fake:
        yield (
            fake,
            {
                "OPASKA_NOTIFY_MODE": "twilio",
                "OPASKA_TWILIO_ACCOUNT_SID": fake.account_sid,
                "OPASKA_TWILIO_AUTH_TOKEN": fake.auth_token,
                "OPASKA_TWILIO_FROM_NUMBER": fake.phone_number,
                # No callbacks are played here; the URL only has to be well formed.
                "OPASKA_TWILIO_PUBLIC_URL": "http://127.0.0.1:9/opaska",
                "OPASKA_TWILIO_API_BASE_URL": fake.url,
                "OPASKA_METRICS_ENGINE_PORT": "0",
                # The gateways snapshot the policy onto each alarm: every part reads the same file.
                "OPASKA_ESCALATION_POLICIES_FILE": str(policies),
                "OPASKA_ESCALATION_POLL_S": "0.2",
                # A send the killed engine left hanging is reconciled by the other one soon.
                "OPASKA_TWILIO_TIMEOUT_S": "3",
                "OPASKA_NOTIFY_SEND_DEADLINE_S": "7",
                "OPASKA_NOTIFY_RECONCILE_AFTER_S": "1",
                "OPASKA_MQTT_SHARED_GROUP": f"gw{uuid.uuid4().hex[:6]}",
            },
        )


def _start(stack: ExitStack, fault: Platform, part: str, **env: str) -> Popen[bytes]:
    return stack.enter_context(fault.process(part, **env))


async def _duplicate_notifications(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[object, ...]]:
    """(alarm, contact, channel, template, rows) for any notification written more than once."""
    key = (Notification.alarm_id, Notification.contact_id, Notification.channel, Notification.template)
    async with sessions() as session:
        rows = await session.execute(select(*key, func.count()).group_by(*key).having(func.count() > 1))
        return [tuple(row) for row in rows]


async def _notifications_by_status(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(Notification.status, func.count()).group_by(Notification.status))
        return {status: int(count) for status, count in rows}


async def test_one_of_three_gateways_and_one_of_two_engines_sigkilled_mid_burst(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    async with platform(sessions, clock, database_url, topics, client_prefix, tmp_path) as fault:
        assert fault.fleet is not None
        phones = await _one_contact_each(sessions, fault)
        async with _twilio_env(fault, tmp_path / "escalation.toml") as (fake, env):
            with ExitStack() as stack:
                gateway_ports = [free_port() for _ in range(GATEWAYS)]
                console_ports = [free_port() for _ in range(CONSOLES)]
                gateways = [
                    _start(
                        stack,
                        fault,
                        "gateway",
                        **env,
                        OPASKA_MQTT_GATEWAY_NAME=f"g{i}",
                        OPASKA_METRICS_GATEWAY_PORT=str(port),
                    )
                    for i, port in enumerate(gateway_ports)
                ]
                engines = [_start(stack, fault, "engine", **env) for _ in range(ENGINES)]
                consoles = [
                    _start(stack, fault, "console", **env, OPASKA_CONSOLE_PORT=str(port)) for port in console_ports
                ]
                for process, port in zip(gateways, gateway_ports, strict=True):
                    await fault.ready("gateway", process, port=port)
                for process, port in zip(consoles, console_ports, strict=True):
                    await fault.ready("console", process, port=port)

                pressed_at = time.monotonic()
                fault.press_all()
                await fault.until_stored(fault.count // 3)
                gateways[0].kill()
                gateways[0].wait(10)
                stored_at_gateway_kill = await fault.alarms_stored()
                killed_after_s = time.monotonic() - pressed_at

                async def sms_going_out() -> None:
                    async with asyncio.timeout(120):
                        while len(fake.messages) < max(1, fault.count // 5):
                            await asyncio.sleep(0.05)

                await sms_going_out()
                engines[0].kill()
                engines[0].wait(10)
                sms_at_engine_kill = len(fake.messages)

                verdict = await fault.verdict()
                notified_started = time.monotonic()
                async with asyncio.timeout(NOTIFIED_WITHIN_S):
                    while (await _notifications_by_status(sessions)).get(NotificationStatus.SENT, 0) < fault.count:
                        await asyncio.sleep(0.5)
                notified_s = time.monotonic() - notified_started
                await asyncio.sleep(2.0)  # room for a second SMS to show
                live = [p.poll() is None for p in (*gateways[1:], *engines[1:], *consoles)]
            latencies = sorted(outcome.seconds for outcome in fault.fleet.stats.alarms if outcome.answer is not None)
            duplicates = await _duplicate_notifications(sessions)
            statuses = await _notifications_by_status(sessions)
            per_number = {number: len(fake.sent_to(number)) for number in phones.values()}
        verdict.extra = {
            "gateways": GATEWAYS,
            "engines": ENGINES,
            "consoles": CONSOLES,
            "alarms_stored_at_gateway_kill": stored_at_gateway_kill,
            "sms_sent_at_engine_kill": sms_at_engine_kill,
            "gateway_killed_after_s": round(killed_after_s, 1),
            # The burst's end (the last band's answer) after the gateway's kill.
            "last_ack_after_gateway_kill_s": round(verdict.seconds - killed_after_s, 1),
            "press_to_ack_s": {
                "median": round(statistics.median(latencies), 2) if latencies else None,
                "p99": round(latencies[int(len(latencies) * 0.99) - 1], 2) if latencies else None,
                "max": round(latencies[-1], 2) if latencies else None,
            },
            "all_sms_sent_after_burst_s": round(notified_s, 1),
            "notifications": statuses,
            "duplicate_notifications": len(duplicates),
            "sms_at_provider": len(fake.messages),
        }
        verdict.record("many_gateways")
    assert stored_at_gateway_kill < fault.count, "the gateway's kill missed the burst"
    assert sms_at_engine_kill < fault.count, "the engine's kill missed the SMS"
    assert all(live), "a part left running died"
    verdict.assert_exactly_once()
    assert verdict.seconds < PRESS_TIMEOUT_S
    assert duplicates == [], f"notifications written twice: {duplicates[:5]}"
    assert statuses == {NotificationStatus.SENT: fault.count}
    assert sorted(set(per_number.values())) == [1], "a relative texted twice, or never"
