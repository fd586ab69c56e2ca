"""Intake of technical alarms: raised and cleared by the platform itself, not by a band's message.

A technical alarm (band offline, battery low, not worn) has no first message; it is raised from
band presence in the database and resolved by the system once the cause is gone. Both moves are
audited as alarm events with actor "system" and a detail saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import lifecycle, repository
from alarm_center.alarms.metrics import ALARMS_RAISED
from alarm_center.alarms.model import PRIORITY_BY_KIND, AlarmKind, AlarmStatus
from core.db.after_commit import after_commit

TECHNICAL_KINDS = frozenset({AlarmKind.BAND_OFFLINE, AlarmKind.BATTERY_LOW, AlarmKind.NOT_WORN})
# The outcome of an alarm the system closed because its cause went away.
AUTO_CLEARED = lifecycle.Outcome.AUTO_CLEARED.value


@dataclass(frozen=True)
class TechnicalRaise:
    """A band to raise a technical alarm for, and the audit detail saying why (no personal data)."""

    band_id: int
    resident_id: int | None
    municipality_id: int | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class TechnicalClear:
    """An open technical alarm whose cause is gone, in the status the caller saw it in."""

    alarm_id: int
    from_status: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


async def raise_technical(
    session: AsyncSession, *, kind: AlarmKind, at: datetime, alarms: Sequence[TechnicalRaise]
) -> dict[int, int]:
    """Raise a technical alarm for each band with none of this kind open; {band_id: new alarm id}.

    Does not commit. One statement for the lot, and the partial unique index decides, so two
    supervisors (or a restarted one) cannot raise the same alarm twice: a band already covered is
    simply left out of the result.
    """
    if kind not in TECHNICAL_KINDS:
        raise ValueError(f"{kind} is not a technical alarm kind")
    inserted = await repository.insert_alarms_if_none_open(
        session,
        [
            {
                "municipality_id": alarm.municipality_id,
                "resident_id": alarm.resident_id,
                "band_id": alarm.band_id,
                "kind": kind.value,
                "priority": int(PRIORITY_BY_KIND[kind]),
                "status": AlarmStatus.RAISED.value,
                # Technical alarms are about the real band; a technician's test never raises one.
                "is_test": False,
                "raised_at": at,
                "repeat_count": 0,
                "note": "",
                "first_message_id": None,
            }
            for alarm in alarms
        ],
    )
    raised = {band_id: alarm_id for (band_id, _, _), alarm_id in inserted.items()}
    await repository.add_events(
        session,
        [
            _event(raised[alarm.band_id], at, "raised", None, AlarmStatus.RAISED.value, alarm.detail)
            for alarm in alarms
            if alarm.band_id in raised
        ],
    )
    if raised:
        after_commit(session, lambda: ALARMS_RAISED.labels(kind.value).inc(len(raised)))
    return raised


async def clear_technical(session: AsyncSession, *, at: datetime, alarms: Sequence[TechnicalClear]) -> list[int]:
    """Resolve technical alarms whose cause is gone (the lifecycle's auto-clear); the ids resolved.

    Does not commit. An alarm no longer in the status the caller saw (an operator or another
    supervisor moved it meanwhile) is left alone, and the next pass judges it afresh; a life alarm
    is never auto-cleared, whatever the caller passes.
    """
    return await lifecycle.apply_move_many(
        session,
        at=at,
        move=lifecycle.Move.AUTO_CLEAR,
        actor=lifecycle.Actor.system(),
        alarms=[
            lifecycle.Seen(alarm.alarm_id, alarm.from_status, {"reason": alarm.reason, **alarm.detail})
            for alarm in alarms
        ],
    )


def _event(
    alarm_id: int, at: datetime, type: str, from_status: str | None, to_status: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "alarm_id": alarm_id,
        "at": at,
        "type": type,
        "actor_type": "system",
        "actor_id": None,
        "from_status": from_status,
        "to_status": to_status,
        "detail": detail,
    }
