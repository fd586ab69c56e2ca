"""A canary lost: the supervisor's `canary_lost` alarm, raised once while the path is broken and
cleared by the system when a canary comes through again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.lifecycle import Actor, Move, Seen, apply_move_many
from alarm_center.alarms.metrics import ALARMS_RAISED
from alarm_center.alarms.model import OPEN_STATUSES, PRIORITY_BY_KIND, Alarm, AlarmKind, AlarmStatus
from alarm_center.escalation import service as escalation
from alarm_center.escalation.policy import PolicyBook
from core.db.after_commit import after_commit

LOST = AlarmKind.CANARY_LOST


async def raise_canary_lost(
    session: AsyncSession, *, band_id: int, now: datetime, policies: PolicyBook, detail: dict[str, Any]
) -> int | None:
    """The new canary_lost alarm's id, or None if one is open already (the path is still broken)."""
    inserted = await alarms.insert_alarms_if_none_open(
        session,
        [
            {
                "municipality_id": None,
                "resident_id": None,
                "band_id": band_id,
                "kind": LOST.value,
                "priority": int(PRIORITY_BY_KIND[LOST]),
                "status": AlarmStatus.RAISED.value,
                "is_test": False,
                "raised_at": now,
                "repeat_count": 0,
                "note": "",
                "first_message_id": None,
            }
        ],
    )
    alarm_id = next(iter(inserted.values()), None)
    if alarm_id is None:
        return None
    await alarms.add_event(
        session,
        alarm_id=alarm_id,
        at=now,
        type="raised",
        actor_type="system",
        to_status=AlarmStatus.RAISED.value,
        detail={"reason": "canary_lost", **detail},
    )
    await escalation.start(
        session, policies=policies, alarm_id=alarm_id, kind=LOST.value, municipality_id=None, raised_at=now
    )
    after_commit(session, lambda: ALARMS_RAISED.labels(LOST.value).inc())
    return alarm_id


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
