"""The console's part of the canary: press, and see the alarm closed on this console's live feed
(the engine's part and the rest are in alarm_center/canary/).

Every `every_s` the canary band (a real MQTT band client, the simulator's) presses SOS on the
bands' listener of the broker. The gateway stores it and acks it (`alarm_received`, after commit),
the engine closes the canary alarm, and the console's live feed delivers the closed alarm: the time
from the press to that delivery is the canary's end-to-end time. Not through within `timeout_s`:
lost. Where it stopped is told from what did happen (no connection, no ack, the alarm still open,
closed but not delivered), the supervisor gets a `canary_lost` alarm, /readyz says so, and the
metrics let Prometheus alert even when the database is what broke.

The last result is kept in the database (`service_state` row "alarm-canary") for every console
and the supervisor's page; the in-memory state serves only this process's /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmStatus
from alarm_center.canary import band as canary_band
from alarm_center.canary import metrics
from alarm_center.canary.lost import clear_canary_lost, raise_canary_lost
from alarm_center.canary.stages import STAGE_WORDS, Stage
from alarm_center.canary.status import STATE_ROW
from alarm_center.escalation.policy import PolicySource
from alarm_center.live import AlarmFeed
from core.clock import Clock
from core.db.dialect import insert_for
from core.db.service_state import ServiceState
from core.health import OK
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from core.settings import CanarySettings, Settings
from gateway.topics import TopicScheme
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy, VirtualBand

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    at: datetime
    ok: bool
    seconds: float
    stage: Stage | None = None
    alarm_id: int | None = None


class CanaryLost(Exception):
    def __init__(self, stage: Stage, alarm_id: int | None = None) -> None:
        super().__init__(STAGE_WORDS[stage])
        self.stage = stage
        self.alarm_id = alarm_id


class CanaryProbe:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        feed: AlarmFeed,
        clock: Clock,
        settings: CanarySettings,
        band_endpoint: MqttEndpoint,
        topics: TopicScheme,
        policies: PolicySource,
    ) -> None:
        self._sessions = sessions
        self._feed = feed
        self._clock = clock
        self._settings = settings
        self._endpoint = band_endpoint
        self._topics = topics
        self._policies = policies
        self._band: VirtualBand | None = None
        self._band_id: int | None = None
        self._connected = False
        self.last: Result | None = None
        self.last_ok: Result | None = None
        self.lost_since: datetime | None = None

    async def _ready_band(self) -> VirtualBand:
        if self._band is None:
            secret = secrets.token_urlsafe(24)
            async with self._sessions() as session, session.begin():
                self._band_id = await canary_band.ensure_canary_band(session, secret=secret, now=self._clock.now())
            self._band = VirtualBand(
                self._endpoint,
                self._topics,
                canary_band.SERIAL,
                password=secret,
                # What bands speak; every broker the platform runs on takes it.
                protocol="3.1.1",
                # Repeated within the timeout like a real band's press, quickly: a lost PUBLISH or
                # ack costs a second or two, not the round.
                repeat=RepeatPolicy(first_s=2.0, max_s=5.0),
            )
        if not self._connected:
            try:
                await self._band.start()
            except (MqttError, OSError) as exc:
                raise CanaryLost(Stage.BROKER) from exc
            self._connected = True
        return self._band

    async def _closed_on_feed(self, queue: asyncio.Queue[dict[str, Any]], alarm_id: int) -> None:
        while True:
            message = await queue.get()
            alarm = message.get("alarm") or {}
            if alarm.get("id") == alarm_id and alarm.get("status") not in ("raised", "claimed"):
                return

    async def _where_it_stopped(self, alarm_id: int | None) -> Stage:
        """Told from the database: was this round's press stored, its alarm raised, closed?"""
        pressed = [msg_id for kind, msg_id in self._band.sent if kind == "sos"][-1:] if self._band else []
        try:
            async with asyncio.timeout(5), self._sessions() as session:
                if alarm_id is None:
                    if not pressed or self._band_id is None:
                        return Stage.BROKER
                    stored = await session.scalar(
                        select(BandMessage.id).where(
                            BandMessage.band_id == self._band_id, BandMessage.message_id == pressed[0]
                        )
                    )
                    return Stage.GATEWAY if stored is None else Stage.ACK
                status = await session.scalar(select(Alarm.status).where(Alarm.id == alarm_id))
        except Exception:
            return Stage.DATABASE
        return Stage.ENGINE if status in (AlarmStatus.RAISED.value, AlarmStatus.CLAIMED.value) else Stage.FEED

    async def run_round(self) -> Result:
        """Press once and wait for the closed alarm; the result, recorded and acted on."""
        if self._band is not None:
            # The simulator's band keeps what it sent and heard, for tests: a canary lives for months.
            self._band.sent.clear()
            self._band.downlink.clear()
        started = time.monotonic()
        alarm_id: int | None = None
        stage: Stage | None = None
        async with self._feed.subscribe(canary=True) as queue:
            try:
                async with asyncio.timeout(self._settings.timeout_s):
                    band = await self._ready_band()
                    ack = await band.press("sos")
                    alarm_id = int(ack["alarm_id"])
                    await self._closed_on_feed(queue, alarm_id)
            except CanaryLost as lost:
                stage = lost.stage
            except TimeoutError:
                stage = await self._where_it_stopped(alarm_id)
            except Exception:
                log.exception("alarm canary round failed")
                stage = await self._where_it_stopped(alarm_id)
        seconds = time.monotonic() - started
        result = Result(self._clock.now(), stage is None, seconds, stage, alarm_id)
        await self._record(result)
        return result

    async def _record(self, result: Result) -> None:
        self.last = result
        if result.ok:
            self.last_ok = result
            self.lost_since = None
            metrics.CANARY_SECONDS.observe(result.seconds)
            metrics.CANARY_LAST_SUCCESS.set(time.time())
            metrics.CANARY_FAILING.set(0)
            log.debug("alarm canary through in %.3f s", result.seconds)
        else:
            assert result.stage is not None
            if self.lost_since is None:
                self.lost_since = result.at
            metrics.CANARY_FAILING.set(1)
            metrics.CANARY_FAILURES.labels(result.stage.value).inc()
            log.error("alarm canary LOST (%s): %s", result.stage.value, STAGE_WORDS[result.stage])
            if result.stage == Stage.BROKER:
                self._connected = False
        try:
            async with asyncio.timeout(10), self._sessions() as session, session.begin():
                await self._save_state(session, result)
                if result.ok:
                    await clear_canary_lost(session, now=result.at, detail={"seconds": round(result.seconds, 3)})
                elif self._band_id is not None:
                    await self._raise_lost(session, result)
        except Exception:
            log.exception("alarm canary: its result could not be recorded")

    async def _raise_lost(self, session: AsyncSession, result: Result) -> None:
        assert self._band_id is not None
        assert result.stage is not None
        # Never raises: a broken file leaves the last good policies, or the built-in fallback.
        book = self._policies.current()
        detail = {"stage": result.stage.value, "timeout_s": self._settings.timeout_s}
        if self.last_ok is not None:
            detail["last_ok_at"] = self.last_ok.at.isoformat()
        alarm_id = await raise_canary_lost(session, band_id=self._band_id, now=result.at, policies=book, detail=detail)
        if alarm_id is not None:
            log.error("alarm canary lost: canary_lost alarm %d raised for the supervisor", alarm_id)

    async def _save_state(self, session: AsyncSession, result: Result) -> None:
        detail: dict[str, Any] = {
            "ok": result.ok,
            "last_round_at": result.at.isoformat(),
            "seconds": round(result.seconds, 3),
            "stage": result.stage.value if result.stage else None,
            "last_ok_at": self.last_ok.at.isoformat() if self.last_ok else None,
            "last_ok_seconds": round(self.last_ok.seconds, 3) if self.last_ok else None,
        }
        values = {"name": STATE_ROW, "alive_at": result.at, "connected_since": self.lost_since, "detail": detail}
        statement = insert_for(session, ServiceState).values(values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["name"],
                set_={"alive_at": result.at, "connected_since": self.lost_since, "detail": detail},
            )
        )

    async def state(self) -> str:
        """For /readyz: ok, or what is lost and since when."""
        if self.lost_since is None or self.last is None or self.last.stage is None:
            return OK
        lost_for = (self._clock.now() - self.lost_since).total_seconds()
        return f"lost: no alarm canary through the alarm path for {lost_for:.0f} s ({self.last.stage.value})"

    async def stop(self) -> None:
        """Disconnect the canary band (it says offline, as any band going away)."""
        if self._band is not None and self._connected:
            self._connected = False
            with contextlib.suppress(MqttError, OSError):
                await self._band.stop()

    async def run(self) -> None:
        """A round every `every_s`, until cancelled (then the canary band disconnects)."""
        try:
            while True:
                await asyncio.sleep(self._settings.every_s)
                await self.run_round()
        finally:
            await self.stop()


def canary_band_endpoint(settings: Settings, embedded_bands: MqttEndpoint | None = None) -> MqttEndpoint:
    """Where the canary band logs in: [canary] band_url; else the embedded broker's band listener;
    else the host and port of [mqtt] url (its credentials are the service's, not a band's)."""
    if settings.canary.band_url:
        endpoint = parse_mqtt_url(settings.canary.band_url)
    elif embedded_bands is not None:
        endpoint = embedded_bands
    elif settings.mqtt.url:
        endpoint = parse_mqtt_url(settings.mqtt.url)
    else:
        endpoint = MqttEndpoint(settings.mqtt.embedded_host, settings.mqtt.embedded_port)
    return MqttEndpoint(endpoint.host, endpoint.port, tls=endpoint.tls)


def canary_probe(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    feed: AlarmFeed,
    clock: Clock,
    embedded_bands: MqttEndpoint | None = None,
) -> CanaryProbe | None:
    """The console's canary, or None when [canary] enabled is false."""
    if not settings.canary.enabled:
        return None
    return CanaryProbe(
        sessions=sessions,
        feed=feed,
        clock=clock,
        settings=settings.canary,
        band_endpoint=canary_band_endpoint(settings, embedded_bands),
        topics=TopicScheme(settings.mqtt.topic_root),
        policies=PolicySource(settings.escalation.policies_path),
    )
