"""Alarms raised and time to claim are counted where they happen, once committed: an alarm claimed
and resolved before the escalation worker ever looks at it still counts, and a rolled-back one
never does."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import AlarmKind
from alarm_center.escalation.policy import load_policies
from core.clock import FakeClock
from core.settings import PROJECT_ROOT
from simulator.lab.staff import create_staff
from tests.support.alarms import take_in
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

POLICIES = load_policies(PROJECT_ROOT / "config" / "escalation.toml")


def where(seeded: SeededBand) -> dict[str, int]:
    return {"band_id": seeded.band_id, "municipality_id": seeded.municipality_id}


def raised(kind: str) -> float:
    return REGISTRY.get_sample_value("opaska_alarms_raised_total", {"kind": kind}) or 0.0


def claims(kind: str, within_s: int) -> float:
    labels = {"kind": kind, "le": f"{float(within_s)}"}
    return REGISTRY.get_sample_value("opaska_alarm_claim_seconds_bucket", labels) or 0.0


async def test_an_alarm_claimed_before_the_worker_runs_is_counted_at_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    staff_id = (await create_staff(sessions, clock, full_name="Op", municipality_ids=[seeded.municipality_id])).id
    before_raised, before_fast, before_slow = raised("fall"), claims("fall", 20), claims("fall", 10)

    async with sessions() as session, session.begin():
        alarm_id = await take_in(
            session,
            band_id=seeded.band_id,
            municipality_id=seeded.municipality_id,
            kind=AlarmKind.FALL,
            at=clock.now(),
            policies=POLICIES,
        )
        assert raised("fall") == before_raised  # not before the commit
    assert raised("fall") == before_raised + 1

    clock.advance(15)
    async with sessions() as session, session.begin():
        await apply_move(session, at=clock.now(), alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(staff_id))
    async with sessions() as session, session.begin():
        await apply_move(
            session,
            at=clock.now(),
            alarm_id=alarm_id,
            move=Move.RESOLVE,
            actor=Actor.staff(staff_id),
            outcome=Outcome.FALSE_ALARM,
            note="pressed by mistake",
        )
    # Claimed after 15 s: in the 20 s bucket, not in the 10 s one; no escalation round ran.
    assert (claims("fall", 20), claims("fall", 10)) == (before_fast + 1, before_slow)


async def test_a_rolled_back_alarm_is_not_counted(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    before = raised("sos")
    async with sessions() as session, session.begin():
        await take_in(
            session,
            band_id=seeded.band_id,
            municipality_id=seeded.municipality_id,
            kind=AlarmKind.SOS,
            at=clock.now(),
            policies=POLICIES,
        )
        await session.rollback()
    assert raised("sos") == before
    async with sessions() as session, session.begin():
        await take_in(
            session,
            band_id=seeded.band_id,
            municipality_id=seeded.municipality_id,
            kind=AlarmKind.SOS,
            at=clock.now(),
            policies=POLICIES,
        )
    assert raised("sos") == before + 1
