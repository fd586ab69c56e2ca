"""An operator takes an alarm: raised → claimed through the lifecycle, and the band told "help is coming"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import LIFE, Actor, Move, MoveRefused, alarm_class, apply_move
from alarm_center.alarms.model import Alarm
from core.clock import Clock
from registry.traffic import downlinks as downlink
from registry.traffic.messages import BandMessage

# The old name of the refusal, kept for callers written before the lifecycle: the same exception.
ClaimRefused = MoveRefused


@dataclass(frozen=True)
class Claimed:
    alarm_id: int
    staff_id: int
    # The audited "claimed" event.
    event_id: int


async def claim_alarm(
    session: AsyncSession,
    clock: Clock,
    *,
    alarm_id: int,
    staff_id: int,
    detail: Mapping[str, Any] | None = None,
) -> Claimed:
    """Does not commit. Two operators claiming at once: exactly one wins, the other gets
    `lifecycle.MoveRefused` ("alarm 12 is already claimed by staff 7"). `detail` goes on the
    audited event (e.g. `{"installation_test": true}`)."""
    moved = await apply_move(
        session, at=clock.now(), alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(staff_id), detail=detail
    )
    # Only a life alarm came from a press the resident waits on; the band shows "help is coming".
    # A call from an unknown number has no band to tell.
    if alarm_class(moved.kind) == LIFE and moved.band_id is not None:
        msg_id = (
            await session.execute(
                select(BandMessage.message_id)
                .join(Alarm, Alarm.first_message_id == BandMessage.id)
                .where(Alarm.id == alarm_id)
            )
        ).scalar_one_or_none()
        await downlink.alarm_claimed(
            session, band_id=moved.band_id, alarm_id=alarm_id, kind=moved.kind, msg_id=msg_id, at=moved.at
        )
    return Claimed(alarm_id, staff_id, moved.event_id)
