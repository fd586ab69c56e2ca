"""Intake: a band's alarm message becomes a new alarm, or a repeat merged into the open one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.metrics import ALARMS_RAISED
from alarm_center.alarms.model import PRIORITY_BY_KIND, AlarmKind, AlarmStatus
from alarm_center.escalation import service as escalation
from alarm_center.escalation.policy import PolicyBook, shipped_policies
from core.db.after_commit import after_commit
from registry.model import Band


@dataclass(frozen=True)
class IntakeResult:
    alarm_id: int
    created: bool


class IntakeRace(Exception):
    """The open alarm closed between our insert and our look-up; the caller retries the unit of work."""


@dataclass(frozen=True)
class NewAlarm:
    """What a new alarm is raised with, whoever raises it (a band's press, a call to the centre)."""

    kind: AlarmKind
    band_id: int | None
    resident_id: int | None
    municipality_id: int | None
    received_at: datetime
    is_test: bool
    first_message_id: int | None
    # Who raised it, on its "raised" event: the band, the system for a caller it cannot name, or
    # the operator whose welfare call found the resident in need.
    actor_type: str
    actor_id: int | None
    detail: dict[str, object]


async def _raise(session: AsyncSession, new: NewAlarm, policies: PolicyBook | None) -> int | None:
    """Insert the alarm unless one of its band, kind and test-ness is open, with its "raised" event
    and its escalation started; its id, or None when one is open already. Does not commit."""
    alarm_id = await repository.insert_alarm_if_none_open(
        session,
        {
            "municipality_id": new.municipality_id,
            "resident_id": new.resident_id,
            "band_id": new.band_id,
            "kind": new.kind.value,
            "priority": int(PRIORITY_BY_KIND[new.kind]),
            "status": AlarmStatus.RAISED.value,
            "is_test": new.is_test,
            "raised_at": new.received_at,
            "repeat_count": 0,
            "note": "",
            "first_message_id": new.first_message_id,
        },
    )
    if alarm_id is None:
        return None
    await repository.add_event(
        session,
        alarm_id=alarm_id,
        at=new.received_at,
        type="raised",
        actor_type=new.actor_type,
        actor_id=new.actor_id,
        to_status=AlarmStatus.RAISED.value,
        detail=new.detail,
    )
    await escalation.start(
        session,
        policies=policies or shipped_policies(),
        alarm_id=alarm_id,
        kind=new.kind.value,
        municipality_id=new.municipality_id,
        raised_at=new.received_at,
        is_test=new.is_test,
    )
    after_commit(session, ALARMS_RAISED.labels(new.kind.value).inc)
    return alarm_id


async def raise_or_merge(
    session: AsyncSession,
    *,
    band: Band,
    resident_municipality_id: int | None,
    kind: AlarmKind,
    band_message_id: int,
    received_at: datetime,
    is_test: bool = False,
    policies: PolicyBook | None = None,
) -> IntakeResult:
    """Raise an alarm for this band and kind, or merge into the open one. Does not commit.

    A new alarm gets its escalation row in the same transaction, with its policy (from
    `policies`, by default the configured file) copied onto it.
    """
    alarm_id = await _raise(
        session,
        NewAlarm(
            kind=kind,
            band_id=band.id,
            resident_id=band.resident_id,
            municipality_id=resident_municipality_id,
            received_at=received_at,
            is_test=is_test,
            first_message_id=band_message_id,
            actor_type="band",
            actor_id=band.id,
            detail={"band_message_id": band_message_id},
        ),
        policies,
    )
    if alarm_id is not None:
        return IntakeResult(alarm_id=alarm_id, created=True)

    open_alarm = await repository.open_alarm_for(session, band_id=band.id, kind=kind.value, is_test=is_test)
    if open_alarm is None:
        raise IntakeRace(f"open {kind} alarm of band {band.serial} closed during intake")
    await repository.count_repeat(session, alarm_id=open_alarm.id, at=received_at)
    await repository.add_event(
        session,
        alarm_id=open_alarm.id,
        at=received_at,
        type="repeat",
        actor_type="band",
        actor_id=band.id,
        detail={"band_message_id": band_message_id},
    )
    return IntakeResult(alarm_id=open_alarm.id, created=False)


async def raise_voice_call(
    session: AsyncSession,
    *,
    band_id: int | None,
    resident_id: int | None,
    municipality_id: int | None,
    received_at: datetime,
    detail: dict[str, object],
    is_test: bool = False,
    policies: PolicyBook | None = None,
) -> int | None:
    """Raise a `voice_call` alarm for a call to the centre's number, with its escalation started,
    as a band's press would be. Does not commit. None when this band already has an open
    voice_call alarm (the partial unique index decides): the caller attaches the call to it.

    `band_id` None: a caller nobody in the registry has the number of; such alarms never merge."""
    by_band = band_id is not None and detail.get("caller") == "band"
    return await _raise(
        session,
        NewAlarm(
            kind=AlarmKind.VOICE_CALL,
            band_id=band_id,
            resident_id=resident_id,
            municipality_id=municipality_id,
            received_at=received_at,
            is_test=is_test,
            first_message_id=None,
            actor_type="band" if by_band else "system",
            actor_id=band_id if by_band else None,
            detail={"reason": AlarmKind.VOICE_CALL.value, **detail},
        ),
        policies,
    )


async def raise_welfare_call(
    session: AsyncSession,
    *,
    band_id: int | None,
    resident_id: int,
    municipality_id: int,
    at: datetime,
    staff_id: int,
    detail: dict[str, object],
    policies: PolicyBook | None = None,
) -> int | None:
    """Raise a `welfare_call` alarm for an operator's welfare call that needs action (a visit, or
    nobody answered twice), with its escalation started; raised by the operator. Does not commit.
    None when the band already has an open welfare_call alarm (the caller joins that one)."""
    return await _raise_without_message(
        session,
        kind=AlarmKind.WELFARE_CALL,
        band_id=band_id,
        resident_id=resident_id,
        municipality_id=municipality_id,
        at=at,
        actor_type="staff",
        actor_id=staff_id,
        detail={"reason": AlarmKind.WELFARE_CALL.value, **detail},
        policies=policies,
    )


async def raise_by_system(
    session: AsyncSession,
    *,
    kind: AlarmKind,
    band_id: int | None,
    resident_id: int | None,
    municipality_id: int | None,
    at: datetime,
    detail: dict[str, object],
    policies: PolicyBook | None = None,
) -> int | None:
    """An alarm the platform raises by itself (a safe zone left, the alarm canary lost), its "raised"
    event saying why. Does not commit. None when one of its band and kind is open already."""
    return await _raise_without_message(
        session,
        kind=kind,
        band_id=band_id,
        resident_id=resident_id,
        municipality_id=municipality_id,
        at=at,
        actor_type="system",
        actor_id=None,
        detail=detail,
        policies=policies,
    )


async def _raise_without_message(
    session: AsyncSession,
    *,
    kind: AlarmKind,
    band_id: int | None,
    resident_id: int | None,
    municipality_id: int | None,
    at: datetime,
    actor_type: str,
    actor_id: int | None,
    detail: dict[str, object],
    policies: PolicyBook | None,
) -> int | None:
    """A real alarm no band message stands behind: raised by a person or by the platform."""
    new = NewAlarm(
        kind=kind,
        band_id=band_id,
        resident_id=resident_id,
        municipality_id=municipality_id,
        received_at=at,
        is_test=False,
        first_message_id=None,
        actor_type=actor_type,
        actor_id=actor_id,
        detail=detail,
    )
    return await _raise(session, new, policies)
