"""A canary lost: the supervisor's `canary_lost` alarm, raised once while the path is broken and
cleared by the system when a canary comes through again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.intake import raise_by_system
from alarm_center.alarms.lifecycle import Actor, Move, Seen, apply_move_many
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmKind
from alarm_center.escalation.policy import PolicyBook

LOST = AlarmKind.CANARY_LOST


async def raise_canary_lost(
    session: AsyncSession, *, band_id: int, now: datetime, policies: PolicyBook, detail: dict[str, Any]
) -> int | None:
    """The new canary_lost alarm's id, or None if one is open already (the path is still broken)."""
    return await raise_by_system(
        session,
        kind=LOST,
        band_id=band_id,
        resident_id=None,
        municipality_id=None,
        at=now,
        detail={"reason": "canary_lost", **detail},
        policies=policies,
    )


async def clear_canary_lost(session: AsyncSession, *, now: datetime, detail: dict[str, Any]) -> list[int]:
    """Auto-clear the open canary_lost alarm (a canary came through); the ids cleared."""
    rows = (
        await session.execute(
            select(Alarm.id, Alarm.status).where(
                Alarm.kind == LOST.value, Alarm.status.in_([s.value for s in OPEN_STATUSES])
            )
        )
    ).all()
    seen = [Seen(alarm_id, status, {"reason": "canary_through", **detail}) for alarm_id, status in rows]
    if not seen:
        return []
    return await apply_move_many(session, at=now, move=Move.AUTO_CLEAR, actor=Actor.system(), alarms=seen)
