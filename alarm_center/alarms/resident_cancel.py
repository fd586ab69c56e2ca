"""A fall cancelled by the resident: "I am OK" pressed on the band within the cancel window.

Inside the window, while no operator has claimed it, the fall alarm is cancelled. Later, or once
claimed, the cancel is only recorded on the alarm: a person is already on it and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.model import Alarm, AlarmKind, AlarmStatus
from registry.model import Band

CANCELLED_BY_RESIDENT = "cancelled_by_resident"


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    RECORDED = "recorded"  # too late or already claimed: the operator decides
    NO_OPEN_FALL = "no_open_fall"


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    alarm_id: int | None


async def cancel_fall_by_resident(
    session: AsyncSession, *, band: Band, band_message_id: int, received_at: datetime, window: timedelta
) -> CancelResult:
    """Does not commit. A test fall and a real fall are cancelled alike: the band can't tell them apart."""
    for is_test in (False, True):
        alarm = await repository.open_alarm_for(session, band_id=band.id, kind=AlarmKind.FALL, is_test=is_test)
        if alarm is None:
            continue
        in_window = received_at - alarm.raised_at <= window
        detail = {
            "band_message_id": band_message_id,
            "seconds_after_fall": round((received_at - alarm.raised_at).total_seconds(), 1),
        }
        if alarm.status == AlarmStatus.RAISED and in_window:
            cancelled = await session.execute(
                update(Alarm)
                .where(Alarm.id == alarm.id, Alarm.status == AlarmStatus.RAISED)
                .values(status=AlarmStatus.CANCELLED, closed_at=received_at, outcome=CANCELLED_BY_RESIDENT)
            )
            if cancelled.rowcount == 1:  # type: ignore[attr-defined]
                await repository.add_event(
                    session,
                    alarm_id=alarm.id,
                    at=received_at,
                    type="cancelled",
                    actor_type="band",
                    actor_id=band.id,
                    from_status=AlarmStatus.RAISED,
                    to_status=AlarmStatus.CANCELLED,
                    detail=detail,
                )
                return CancelResult(CancelOutcome.CANCELLED, alarm.id)
        await repository.add_event(
            session,
            alarm_id=alarm.id,
            at=received_at,
            type="cancel_requested",
            actor_type="band",
            actor_id=band.id,
            detail={**detail, "why_not_cancelled": "claimed" if alarm.status != AlarmStatus.RAISED else "too late"},
        )
        return CancelResult(CancelOutcome.RECORDED, alarm.id)
    return CancelResult(CancelOutcome.NO_OPEN_FALL, None)
