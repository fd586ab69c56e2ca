"""An alarm the platform raises by itself (a zone left, a check-in missed, the canary lost, a welfare
call that needs a visit): one open per band and kind, its "raised" event saying why, its escalation
started from the policy. Does not commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.metrics import ALARMS_RAISED
from alarm_center.alarms.model import PRIORITY_BY_KIND, AlarmKind, AlarmStatus
from alarm_center.escalation import service as escalation
from alarm_center.escalation.policy import PolicyBook
from core.db.after_commit import after_commit


async def raise_system_alarm(
    session: AsyncSession,
    *,
    kind: AlarmKind,
    band_id: int | None,
    resident_id: int | None,
    municipality_id: int | None,
    at: datetime,
    detail: dict[str, Any],
    policies: PolicyBook,
) -> int | None:
    """The new alarm's id, or None when one of this kind is open for the band already (the
    partial unique index decides, so two engines cannot raise it twice)."""
    inserted = await repository.insert_alarms_if_none_open(
        session,
        [
            {
                "municipality_id": municipality_id,
                "resident_id": resident_id,
                "band_id": band_id,
                "kind": kind.value,
                "priority": int(PRIORITY_BY_KIND[kind]),
                "status": AlarmStatus.RAISED.value,
                "is_test": False,
                "raised_at": at,
                "repeat_count": 0,
                "note": "",
                "first_message_id": None,
            }
        ],
    )
    alarm_id = next(iter(inserted.values()), None)
    if alarm_id is None:
        return None
    await repository.add_event(
        session,
        alarm_id=alarm_id,
        at=at,
        type="raised",
        actor_type="system",
        to_status=AlarmStatus.RAISED.value,
        detail=detail,
    )
    await escalation.start(
        session, policies=policies, alarm_id=alarm_id, kind=kind.value, municipality_id=municipality_id, raised_at=at
    )
    after_commit(session, lambda: ALARMS_RAISED.labels(kind.value).inc())
    return alarm_id
