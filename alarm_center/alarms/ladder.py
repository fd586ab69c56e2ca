"""The no-response ladder: what the operator does when the resident cannot be reached after an SOS
or a fall, rung by rung, each recorded with its time.

1. `started`: the operator cannot reach the resident (call-back not answered, band silent).
2. `going`: someone with a key, a relative or a responder is on the way (name, expected minutes).
   Nobody within the policy's `no_response_find_s` (default 10 min), or `nobody` can go: the
   console tells the operator to call emergency services.
3. `dispatched`: emergency services called (ambulance, police, fire), with the dispatcher's
   reference number, the time, and the address and access details on the operator's screen.
4. `arrived`: help is at the door.

Each rung is an audited note event (the alarm's timeline), and the ladder's state is read back from
those events: nothing lives only in the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import Actor, Move, MoveResult, apply_move
from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.alarms.timeline_text import Event, describe
from alarm_center.escalation.model import Escalation
from alarm_center.reports.labels import Lang

LADDER = "ladder"
DEFAULT_FIND_S = 600


class Rung(StrEnum):
    STARTED = "started"
    GOING = "going"
    NOBODY = "nobody"
    DISPATCHED = "dispatched"
    ARRIVED = "arrived"


class NoContactReason(StrEnum):
    NO_ANSWER = "no_answer"  # the call-back rang out, or the line was busy
    BAND_SILENT = "band_silent"  # the band's speaker call gave nothing
    OTHER = "other"


class Service(StrEnum):
    AMBULANCE = "ambulance"  # Państwowe Ratownictwo Medyczne
    POLICE = "police"
    FIRE = "fire"  # Państwowa Straż Pożarna (forced entry)


class Stage(StrEnum):
    NOT_STARTED = "not_started"
    FINDING = "finding"  # looking for someone to go; the deadline runs
    CALL_EMERGENCY = "call_emergency"  # nobody can go, or the deadline passed
    SOMEONE_GOING = "someone_going"
    DISPATCHED = "dispatched"
    ARRIVED = "arrived"


class LadderRefused(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RungRecord:
    rung: Rung
    at: datetime
    by: int | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class LadderState:
    stage: Stage
    find_s: int
    # Until when someone must be on the way (while looking); None otherwise.
    find_due_at: datetime | None
    overdue: bool
    rungs: list[RungRecord] = field(default_factory=list)


async def _find_s(session: AsyncSession, alarm_id: int) -> int:
    """The alarm's own policy's deadline (copied onto it when it was raised)."""
    policy = (await session.execute(select(Escalation.policy).where(Escalation.alarm_id == alarm_id))).scalar()
    value = policy.get("no_response_find_s") if isinstance(policy, dict) else None
    return int(value) if isinstance(value, int) else DEFAULT_FIND_S


async def _rungs(session: AsyncSession, alarm_id: int) -> list[RungRecord]:
    events = await session.execute(
        select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "note").order_by(AlarmEvent.id)
    )
    rungs = []
    for event in events.scalars():
        detail: dict[str, Any] = event.detail or {}
        if detail.get("action") == LADDER and detail.get("rung") in Rung.__members__.values():
            rungs.append(RungRecord(Rung(detail["rung"]), event.at, event.actor_id, detail))
    return rungs


def judge(rungs: list[RungRecord], find_s: int, now: datetime) -> LadderState:
    """Where the ladder stands, from its recorded rungs (plain logic: tested on its own)."""
    seen = {record.rung for record in rungs}
    started = next((r for r in rungs if r.rung == Rung.STARTED), None)
    if Rung.ARRIVED in seen:
        return LadderState(Stage.ARRIVED, find_s, None, False, rungs)
    if Rung.DISPATCHED in seen:
        return LadderState(Stage.DISPATCHED, find_s, None, False, rungs)
    if Rung.GOING in seen:
        return LadderState(Stage.SOMEONE_GOING, find_s, None, False, rungs)
    if started is None:
        return LadderState(Stage.NOT_STARTED, find_s, None, False, rungs)
    due = started.at + timedelta(seconds=find_s)
    if Rung.NOBODY in seen or now >= due:
        return LadderState(Stage.CALL_EMERGENCY, find_s, due, now >= due, rungs)
    return LadderState(Stage.FINDING, find_s, due, False, rungs)


async def ladder_state(session: AsyncSession, alarm: Alarm, now: datetime) -> LadderState:
    return judge(await _rungs(session, alarm.id), await _find_s(session, alarm.id), now)


async def record_rung(
    session: AsyncSession,
    *,
    alarm: Alarm,
    rung: Rung,
    staff_id: int,
    at: datetime,
    detail: dict[str, Any],
) -> MoveResult:
    """Record one rung on the alarm's timeline. Does not commit. LadderRefused when the rung does
    not fit where the ladder stands (e.g. help arrived before anyone went)."""
    state = await ladder_state(session, alarm, at)
    seen = {record.rung for record in state.rungs}
    if rung == Rung.STARTED and Rung.STARTED in seen:
        raise LadderRefused("rung", "brak kontaktu jest już zapisany dla tego alarmu")
    if rung in (Rung.GOING, Rung.NOBODY) and Rung.STARTED not in seen:
        raise LadderRefused("rung", "najpierw zapisz brak kontaktu z mieszkańcem")
    if rung == Rung.ARRIVED and not seen & {Rung.GOING, Rung.DISPATCHED}:
        raise LadderRefused("rung", "nikt nie jechał: zapisz najpierw, kto jedzie, albo wezwanie służb")
    clean = {key: value for key, value in detail.items() if value not in (None, "")}
    recorded = {"action": LADDER, "rung": rung.value, **clean}
    return await apply_move(
        session,
        at=at,
        alarm_id=alarm.id,
        move=Move.NOTE,
        actor=Actor.staff(staff_id),
        # The note says it in the timeline's own words (Polish, the centre's language).
        note=describe(Event("note", recorded), Lang.PL),
        detail=recorded,
    )
