"""A fall cancelled by the resident: "I am OK" pressed on the band within the cancel window.

Inside the window, while no operator has claimed it, the fall alarm is cancelled, unless the
centre has chosen that an operator still verifies every cancel by a call
(`alarms.cancel_needs_verification`). Later, once claimed, or when verification is needed, the
cancel is only recorded on the alarm: a person is (or will be) on it and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.lifecycle import Actor, Move, MoveRefused, Outcome, apply_move
from alarm_center.alarms.model import AlarmKind, AlarmStatus
from registry.model import Band

CANCELLED_BY_RESIDENT = Outcome.CANCELLED_BY_RESIDENT.value


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    RECORDED = "recorded"  # too late or already claimed: the operator decides
    AWAITS_VERIFICATION = "awaits_verification"  # in time, but an operator verifies by a call
    NO_OPEN_FALL = "no_open_fall"


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    alarm_id: int | None


async def cancel_fall_by_resident(
    session: AsyncSession,
    *,
    band: Band,
    band_message_id: int,
    received_at: datetime,
    window: timedelta,
    needs_verification: bool = False,
) -> CancelResult:
    """Does not commit. A test fall and a real fall are cancelled alike: the band can't tell them apart.

    `needs_verification` is the `alarms.cancel_needs_verification` setting: when true, a cancel in
    time leaves the alarm open for an operator's call, recorded on it.
    """
    actor = Actor.band(band.id)
    for is_test in (False, True):
        alarm = await repository.open_alarm_for(session, band_id=band.id, kind=AlarmKind.FALL, is_test=is_test)
        if alarm is None:
            continue
        alarm_id, status, raised_at = alarm.id, alarm.status, alarm.raised_at
        in_window = received_at - raised_at <= window
        detail = {
            "band_message_id": band_message_id,
            "seconds_after_fall": round((received_at - raised_at).total_seconds(), 1),
        }
        if status == AlarmStatus.RAISED and in_window and not needs_verification:
            try:
                await apply_move(
                    session,
                    at=received_at,
                    alarm_id=alarm_id,
                    move=Move.CANCEL_BY_RESIDENT,
                    actor=actor,
                    detail=detail,
                )
                return CancelResult(CancelOutcome.CANCELLED, alarm_id)
            except MoveRefused as refused:
                # An operator took it meanwhile (PostgreSQL, a race): record the cancel for them.
                status = refused.status or AlarmStatus.CLAIMED
        if status != AlarmStatus.RAISED:
            why, result = "claimed", CancelOutcome.RECORDED
        elif not in_window:
            why, result = "too late", CancelOutcome.RECORDED
        else:
            why, result = "operator verifies", CancelOutcome.AWAITS_VERIFICATION
        try:
            await apply_move(
                session,
                at=received_at,
                alarm_id=alarm_id,
                move=Move.REQUEST_CANCEL,
                actor=actor,
                detail={**detail, "why_not_cancelled": why},
            )
        except MoveRefused:
            continue  # closed meanwhile: nothing left open to cancel
        return CancelResult(result, alarm_id)
    return CancelResult(CancelOutcome.NO_OPEN_FALL, None)
