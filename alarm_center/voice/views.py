"""Calls as the console shows them: one `CallView` per voice_call row, with the names an operator
reads (whom, and which colleague is on it). Used by the alarm detail (`calls`), the calls API and
the inbound side alike. Reads only; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.voice.model import LIVE_STATUSES, CallStatus, CallTarget, VoiceCall
from registry.band_directory import staff_names
from registry.duty import Shift
from registry.model import Band, Contact, Resident


class CallView(BaseModel):
    id: int
    direction: str  # CallDirection: outbound | inbound
    target: str  # CallTarget: band | resident | contact | responder | unknown
    target_id: int | None
    # "opaska B-123", the resident's or contact's name, the responder's; None for an unknown caller.
    target_name: str | None
    # E.164: whom the operator called, or who called in.
    number: str
    status: str  # CallStatus
    # The operator who placed the call (or answered an inbound one), and their name.
    staff_id: int | None
    staff_name: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    # Talk time from Twilio's CallDuration of the far leg (None until the call ends).
    duration_s: int | None
    error: str | None
    # Ringing, queued or talking: a second call to the same number for the alarm is refused.
    live: bool
    # Inbound, waiting in the queue for an operator: since when.
    waiting_since: datetime | None
    # A recording exists (not deleted): supervisors may play it.
    recording: bool


def band_name(serial: str) -> str:
    return f"opaska {serial}"


async def target_names(session: AsyncSession, rows: Sequence[VoiceCall]) -> dict[tuple[str, int], str]:
    """{(target, target_id): name} for the rows' targets, one query per kind present."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        if row.target_id is not None:
            wanted.setdefault(row.target, set()).add(row.target_id)
    names: dict[tuple[str, int], str] = {}
    if ids := wanted.get(CallTarget.BAND):
        for band_id, serial in await session.execute(select(Band.id, Band.serial).where(Band.id.in_(ids))):
            names[(CallTarget.BAND, band_id)] = band_name(serial)
    if ids := wanted.get(CallTarget.RESIDENT):
        query = select(Resident.id, Resident.first_name, Resident.last_name).where(Resident.id.in_(ids))
        for resident_id, first, last in await session.execute(query):
            names[(CallTarget.RESIDENT, resident_id)] = f"{first} {last}"
    if ids := wanted.get(CallTarget.CONTACT):
        for contact_id, name in await session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(ids))):
            names[(CallTarget.CONTACT, contact_id)] = name
    if ids := wanted.get(CallTarget.RESPONDER):
        for shift_id, name in await session.execute(select(Shift.id, Shift.name).where(Shift.id.in_(ids))):
            names[(CallTarget.RESPONDER, shift_id)] = name
    return names


async def call_views(session: AsyncSession, rows: Sequence[VoiceCall]) -> list[CallView]:
    """The rows as views, in the order given."""
    targets = await target_names(session, rows)
    staff_ids = {row.staff_id for row in rows if row.staff_id is not None}
    staff = await staff_names(session, staff_ids) if staff_ids else {}
    return [
        CallView(
            id=row.id,
            direction=row.direction,
            target=row.target,
            target_id=row.target_id,
            target_name=targets.get((row.target, row.target_id)) if row.target_id is not None else None,
            number=row.number,
            status=row.status,
            staff_id=row.staff_id,
            staff_name=staff.get(row.staff_id) if row.staff_id is not None else None,
            created_at=row.created_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            duration_s=row.duration_s,
            error=row.error,
            live=row.status in LIVE_STATUSES,
            waiting_since=row.created_at if row.status == CallStatus.QUEUED else None,
            recording=row.recording_sid is not None and row.recording_deleted_at is None,
        )
        for row in rows
    ]


async def alarm_calls(session: AsyncSession, alarm_id: int) -> list[CallView]:
    """Every call about the alarm, oldest first (the alarm page lists the live ones on top itself)."""
    rows = await session.execute(select(VoiceCall).where(VoiceCall.alarm_id == alarm_id).order_by(VoiceCall.id))
    return await call_views(session, list(rows.scalars()))


async def call_view(session: AsyncSession, row: VoiceCall) -> CallView:
    [view] = await call_views(session, [row])
    return view
