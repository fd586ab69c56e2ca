"""Installation tests' alarms belong to the technician at the visit, not to the operators' queue.

A band in test mode (`registry.installation_test`) raises test alarms (`Alarm.is_test`). Their
escalation is quiet (`PolicyBook.snapshot_for`: no sound, no supervisor, no phone), they count in
no answer-time figure, and the technician closes them here with a test outcome. Closing claims
first, as the lifecycle wants of every life alarm: the band then shows "help is coming", which is
part of what the visit checks.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.lifecycle import (
    TEST_OUTCOMES,
    Actor,
    Move,
    MoveRefused,
    MoveResult,
    Outcome,
    Refusal,
    apply_move,
)
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmStatus
from core.clock import Clock
from registry import band_directory
from registry.installation_test import bands_in_test_mode, results_for_alarms

# On every event a test alarm's closing writes, so the timeline can say it was a test.
TEST_DETAIL: Mapping[str, Any] = MappingProxyType({"installation_test": True})


async def open_test_alarms(session: AsyncSession, *, band_ids: Collection[int] | None = None) -> list[Alarm]:
    """Open test alarms, oldest first; of these bands only, if given."""
    query = (
        select(Alarm)
        .where(Alarm.is_test.is_(True), Alarm.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(Alarm.raised_at, Alarm.id)
    )
    if band_ids is not None:
        query = query.where(Alarm.band_id.in_(band_ids))
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class TestsInProgress:
    bands_in_test_mode: int
    open_test_alarms: int


async def tests_in_progress(
    session: AsyncSession, *, now: datetime, sees: Callable[[int | None], bool]
) -> TestsInProgress:
    """How many bands are in test mode and how many test alarms are open, of the municipalities
    `sees` admits (a band belongs to its resident's municipality, an unbound one to its last)."""
    bands = await bands_in_test_mode(session, now=now)
    municipality_of = await band_directory.band_municipalities(session, bands)
    alarms = await open_test_alarms(session)
    return TestsInProgress(
        bands_in_test_mode=sum(1 for band in bands if sees(municipality_of.get(band.id))),
        open_test_alarms=sum(1 for alarm in alarms if sees(alarm.municipality_id)),
    )


async def default_outcome(session: AsyncSession, alarm_id: int) -> Outcome:
    """The outcome the test's own result gives: passed (stored, and in time) or failed."""
    result = (await results_for_alarms(session, [alarm_id])).get(alarm_id)
    return Outcome.INSTALLATION_TEST_OK if result is not None and result.passed else Outcome.INSTALLATION_TEST_FAILED


async def close_test_alarm(
    session: AsyncSession,
    clock: Clock,
    *,
    alarm_id: int,
    staff_id: int,
    outcome: Outcome | str | None = None,
    note: str = "",
) -> MoveResult:
    """Close a test alarm: claimed by `staff_id` first if nobody has it, then resolved with a test
    outcome (by default the one its test result gives). Does not commit.

    MoveRefused: no such alarm, a real alarm (never closed as a test), an outcome that is not a
    test's, or an alarm already closed.
    """
    row = (await session.execute(select(Alarm.status, Alarm.is_test).where(Alarm.id == alarm_id))).first()
    if row is None:
        raise MoveRefused(
            f"alarm {alarm_id} does not exist", alarm_id=alarm_id, move=Move.RESOLVE, reason=Refusal.NOT_FOUND
        )
    if not row.is_test:
        raise MoveRefused(
            f"alarm {alarm_id} is a real alarm, not an installation test's: it is closed by an operator "
            "with an outcome of its own",
            alarm_id=alarm_id,
            move=Move.RESOLVE,
            reason=Refusal.NOT_ALLOWED,
        )
    chosen = outcome or await default_outcome(session, alarm_id)
    if chosen not in {o.value for o in TEST_OUTCOMES}:
        choices = ", ".join(sorted(TEST_OUTCOMES))
        raise MoveRefused(
            f"alarm {alarm_id}: {str(chosen)!r} is not an installation test's outcome; one of: {choices}",
            alarm_id=alarm_id,
            move=Move.RESOLVE,
            reason=Refusal.INVALID,
            field="outcome",
        )
    if row.status == AlarmStatus.RAISED:
        try:
            await claim_alarm(session, clock, alarm_id=alarm_id, staff_id=staff_id, detail=TEST_DETAIL)
        except MoveRefused as exc:
            # Someone claimed it a moment ago: closing the test is still what is asked.
            if exc.status != AlarmStatus.CLAIMED:
                raise
    return await apply_move(
        session,
        at=clock.now(),
        alarm_id=alarm_id,
        move=Move.RESOLVE,
        actor=Actor.staff(staff_id),
        outcome=chosen,
        note=note,
        detail=TEST_DETAIL,
    )
