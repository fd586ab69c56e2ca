"""Alarms with known timings, for the SLA and report tests: raised through intake as the gateway
raises them, then claimed, released, resolved or cancelled through the lifecycle, each at its time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import Alarm, AlarmKind
from tests.support.alarms import take_in
from tests.support.seed import SeededBand


async def alarm_story(
    sessions: async_sessionmaker[AsyncSession],
    band: SeededBand,
    kind: AlarmKind,
    *,
    raised: datetime,
    claims: Sequence[tuple[datetime, int]] = (),
    release: datetime | None = None,
    resolve: tuple[datetime, Outcome] | None = None,
    cancel: datetime | None = None,
    test: bool = False,
) -> int:
    """One alarm from raise to close. `claims` are (at, staff id); with `release`, the first claim is
    given up at that time before the next one. Each step is its own committed transaction."""
    async with sessions() as session, session.begin():
        alarm_id = await take_in(
            session, band_id=band.band_id, municipality_id=band.municipality_id, kind=kind, at=raised
        )
        if test:
            # As an installation test would mark it (the band in test mode).
            await session.execute(update(Alarm).where(Alarm.id == alarm_id).values(is_test=True))
    for index, (at, staff_id) in enumerate(claims):
        async with sessions() as session, session.begin():
            await apply_move(session, at=at, alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(staff_id))
        if index == 0 and release is not None:
            async with sessions() as session, session.begin():
                await apply_move(session, at=release, alarm_id=alarm_id, move=Move.RELEASE, actor=Actor.staff(staff_id))
    if resolve is not None:
        at, outcome = resolve
        async with sessions() as session, session.begin():
            await apply_move(
                session,
                at=at,
                alarm_id=alarm_id,
                move=Move.RESOLVE,
                actor=Actor.staff(claims[-1][1]) if claims else Actor.staff(1),
                outcome=outcome,
                note="rozmowa z mieszkańcem",
            )
    if cancel is not None:
        async with sessions() as session, session.begin():
            await apply_move(
                session, at=cancel, alarm_id=alarm_id, move=Move.CANCEL_BY_RESIDENT, actor=Actor.band(band.band_id)
            )
    return alarm_id
