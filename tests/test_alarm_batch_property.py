"""The set-based alarm intake (`BandMessageService.store_alarm_batch`) leaves the database exactly as
storing the same messages one at a time does (`store_alarm`, `store_fall_cancel`), for random
interleavings of SOS, fall, fall cancel, repeats of one message id, bands in test mode, and alarms
claimed or closed by an operator between batches, cut into batches at random."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmEvent
from alarm_center.escalation.model import Escalation
from core.clock import FakeClock
from gateway.alarm_batch import CancelRules
from gateway.judge import AlarmMessage, Rejection, TelemetryMessage, judge
from gateway.service import BandMessageService
from gateway.stored import AlarmStored
from gateway.topics import TopicScheme
from registry.model import Band, BandTestResult
from registry.traffic.messages import BandMessage
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

TOPICS = TopicScheme("opaska/v1")
BANDS = 2
TEST_MODE_BAND = 1  # this one is in a technician's test mode
CANCEL = CancelRules(window=timedelta(seconds=30), needs_verification=False)


@dataclass(frozen=True)
class Press:
    band: int
    kind: str
    # The band sends its previous message again (it missed the ack): a duplicate, not a repeat.
    again: bool
    after_s: float


@dataclass(frozen=True)
class Operator:
    band: int
    action: str  # "claim" or "close" the band's open alarms


@dataclass(frozen=True)
class Cut:
    """Where the batch path ends one batch and starts the next."""


Step = Press | Operator | Cut

PRESSES = st.builds(
    Press,
    st.integers(0, BANDS - 1),
    st.sampled_from(["sos", "sos", "fall", "fall", "fall_cancel"]),
    st.sampled_from([False, False, False, False, True]),
    st.sampled_from([0.0, 0.5, 5.0, 40.0]),
)
# Mostly presses, so that batches hold repeats, a fall with its cancel, and several bands.
STEPS = st.lists(
    st.one_of(
        *[PRESSES] * 8,
        st.builds(Operator, st.integers(0, BANDS - 1), st.sampled_from(["claim", "close"])),
        st.just(Cut()),
    ),
    min_size=6,
    max_size=40,
)


async def _fleet(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> list[Band]:
    bands = []
    for index in range(BANDS):
        seeded = await seed_resident_with_band(sessions, clock)
        async with sessions() as session, session.begin():
            band = await session.get(Band, seeded.band_id)
            assert band is not None
            if index == TEST_MODE_BAND:
                band.test_mode_until = clock.now() + timedelta(days=1)
            bands.append(band)
    return bands


def _message(band: Band, press: Press, message_id: str, at: datetime) -> AlarmMessage | TelemetryMessage:
    raw = json.dumps({"v": 1, "msg_id": message_id, "ts": at.isoformat()}).encode()
    verdict = judge(TOPICS, TOPICS.uplink(band.serial, press.kind), raw, at)
    assert isinstance(verdict, AlarmMessage | TelemetryMessage), verdict
    return verdict


async def _operator(sessions: async_sessionmaker[AsyncSession], band: Band, action: str, at: datetime) -> None:
    values: dict[str, Any] = (
        {"status": "claimed", "claimed_at": at}
        if action == "claim"
        else {"status": "resolved", "closed_at": at, "outcome": "false_alarm"}
    )
    async with sessions() as session, session.begin():
        await session.execute(
            update(Alarm).where(Alarm.band_id == band.id, Alarm.status.in_(OPEN_STATUSES)).values(**values)
        )


async def _one_at_a_time(
    service: BandMessageService, message: AlarmMessage | TelemetryMessage, at: datetime
) -> AlarmStored | Rejection:
    if isinstance(message, AlarmMessage):
        return await service.store_alarm(message, received_at=at)
    return await service.store_fall_cancel(message, received_at=at, cancel=CANCEL)


async def _play(
    sessions: async_sessionmaker[AsyncSession], bands: list[Band], steps: list[Step], start: datetime, *, batched: bool
) -> list[AlarmStored | Rejection]:
    service = BandMessageService(sessions)
    outcomes: list[AlarmStored | Rejection] = []
    pending: list[tuple[AlarmMessage | TelemetryMessage, datetime]] = []
    at = start
    last_ids: dict[int, str] = {}

    async def flush() -> None:
        if pending:
            outcomes.extend(await service.store_alarm_batch(pending, cancel=CANCEL))
            pending.clear()

    for step in steps:
        if isinstance(step, Press):
            at += timedelta(seconds=step.after_s)
            if not (step.again and step.band in last_ids):
                last_ids[step.band] = f"m{len(outcomes) + len(pending)}"
            message = _message(bands[step.band], step, last_ids[step.band], at)
            if batched:
                pending.append((message, at))
            else:
                outcomes.append(await _one_at_a_time(service, message, at))
        elif isinstance(step, Operator):
            await flush()
            await _operator(sessions, bands[step.band], step.action, at)
        else:
            await flush()
    await flush()
    return outcomes


async def _state(sessions: async_sessionmaker[AsyncSession], bands: list[Band]) -> dict[str, Any]:
    """Everything intake writes about these bands, with ids replaced by what they stand for."""
    state: dict[str, Any] = {}
    async with sessions() as session:
        for index, band in enumerate(bands):
            messages = (
                await session.execute(
                    select(BandMessage.id, BandMessage.message_id, BandMessage.kind, BandMessage.received_at)
                    .where(BandMessage.band_id == band.id)
                    .order_by(BandMessage.id)
                )
            ).all()
            message_ids = {row.id: row.message_id for row in messages}
            alarms = (await session.execute(select(Alarm).where(Alarm.band_id == band.id).order_by(Alarm.id))).scalars()
            alarm_ids: dict[int, int] = {}
            described = []
            for number, alarm in enumerate(alarms):
                alarm_ids[alarm.id] = number
                events = (
                    await session.execute(
                        select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id).order_by(AlarmEvent.id)
                    )
                ).scalars()
                escalation = (
                    await session.execute(select(Escalation).where(Escalation.alarm_id == alarm.id))
                ).scalar_one()
                described.append(
                    {
                        "alarm": (
                            alarm.kind,
                            alarm.status,
                            alarm.is_test,
                            alarm.priority,
                            alarm.raised_at,
                            alarm.repeat_count,
                            alarm.last_repeat_at,
                            alarm.outcome,
                            message_ids.get(alarm.first_message_id or 0),
                            alarm.resident_id == band.resident_id,
                            alarm.municipality_id is not None,
                        ),
                        "events": [
                            (
                                event.type,
                                event.at,
                                event.actor_type,
                                event.from_status,
                                event.to_status,
                                {
                                    key: message_ids[value] if key == "band_message_id" else value
                                    for key, value in event.detail.items()
                                },
                            )
                            for event in events
                        ],
                        "escalation": (
                            escalation.policy,
                            escalation.step,
                            escalation.state,
                            escalation.next_due_at,
                        ),
                    }
                )
            tests = (
                await session.execute(
                    select(BandTestResult).where(BandTestResult.band_id == band.id).order_by(BandTestResult.id)
                )
            ).scalars()
            seen = await session.get(Band, band.id, populate_existing=True)
            assert seen is not None
            state[f"band {index}"] = {
                "messages": [(row.message_id, row.kind, row.received_at) for row in messages],
                "alarms": described,
                "tests": [(t.kind, alarm_ids.get(t.alarm_id or 0), t.latency_ms, t.passed) for t in tests],
                "presence": (seen.last_seen_at, seen.last_message_at, seen.last_message_kind),
                "alarm_ids": alarm_ids,
            }
    return state


def _outcomes(outcomes: list[AlarmStored | Rejection], state: dict[str, Any], bands: list[Band]) -> list[Any]:
    """Outcomes with alarm ids as the band's n-th alarm."""
    by_serial = {band.serial: state[f"band {index}"]["alarm_ids"] for index, band in enumerate(bands)}
    return [
        outcome
        if isinstance(outcome, Rejection)
        else (
            outcome.kind,
            outcome.message_id,
            outcome.created,
            outcome.duplicate,
            outcome.cancel,
            by_serial[outcome.band].get(outcome.alarm_id or 0),
        )
        for outcome in outcomes
    ]


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(steps=STEPS)
async def test_batches_store_what_one_at_a_time_stores(
    sessions: async_sessionmaker[AsyncSession], steps: list[Step]
) -> None:
    clock = FakeClock()
    start = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    one_bands, batch_bands = await _fleet(sessions, clock), await _fleet(sessions, clock)
    one = await _play(sessions, one_bands, steps, start, batched=False)
    many = await _play(sessions, batch_bands, steps, start, batched=True)
    one_state, many_state = await _state(sessions, one_bands), await _state(sessions, batch_bands)
    assert _outcomes(many, many_state, batch_bands) == _outcomes(one, one_state, one_bands)
    for band, expected in one_state.items():
        for what in ("messages", "alarms", "tests", "presence"):
            assert many_state[band][what] == expected[what], f"{band}: {what} differ"


async def test_a_storm_of_new_alarms_is_one_transaction(sessions: async_sessionmaker[AsyncSession]) -> None:
    """200 bands press at once: every press raises its own alarm with its escalation, in one batch."""
    clock = FakeClock()
    bands = [await seed_resident_with_band(sessions, clock) for _ in range(200)]
    at = clock.now()
    batch: list[tuple[AlarmMessage | TelemetryMessage, datetime]] = []
    for seeded in bands:
        raw = json.dumps({"v": 1, "msg_id": "storm", "ts": at.isoformat()}).encode()
        verdict = judge(TOPICS, TOPICS.uplink(seeded.serial, "sos"), raw, at)
        assert isinstance(verdict, AlarmMessage)
        batch.append((verdict, at))
    outcomes = await BandMessageService(sessions).store_alarm_batch(batch, cancel=CANCEL)
    assert all(isinstance(o, AlarmStored) and o.created and not o.duplicate for o in outcomes)
    async with sessions() as session:
        alarm_ids = {o.alarm_id for o in outcomes if isinstance(o, AlarmStored)}
        assert len(alarm_ids) == 200
        escalations = (
            (await session.execute(select(Escalation.alarm_id).where(Escalation.alarm_id.in_(alarm_ids))))
            .scalars()
            .all()
        )
        assert set(escalations) == alarm_ids
    again = await BandMessageService(sessions).store_alarm_batch(batch, cancel=CANCEL)
    assert all(isinstance(o, AlarmStored) and o.duplicate for o in again)
