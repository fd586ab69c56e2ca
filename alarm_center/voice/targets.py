"""Whom an operator can call from an alarm, and at which number: the band's SIM, the resident's
phone, each contact, the on-duty responder. A target without a usable number is still listed,
with the reason, so the page can say why its button is disabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm
from alarm_center.voice.model import CallTarget
from alarm_center.voice.views import band_name
from registry.contacts import list_contacts
from registry.duty import DutyRole, Shift, on_duty
from registry.model import Band, Contact, Resident
from registry.phones import InvalidPhone, to_e164


class CallTargetView(BaseModel):
    target: str  # band | resident | contact | responder
    target_id: int | None
    name: str
    # E.164, or None: nothing to dial (then `reason` says why, in Polish).
    number: str | None
    reason: str | None


@dataclass(frozen=True)
class Far:
    target: CallTarget
    target_id: int | None
    name: str
    number: str | None
    reason: str | None = None

    def view(self) -> CallTargetView:
        return CallTargetView(
            target=self.target, target_id=self.target_id, name=self.name, number=self.number, reason=self.reason
        )


class TargetNotFound(LookupError):
    """No such target for this alarm (a contact of another resident, a shift not on duty)."""


def _far(target: CallTarget, target_id: int | None, name: str, raw: str | None, missing: str) -> Far:
    if not raw or not raw.strip():
        return Far(target, target_id, name, None, missing)
    try:
        return Far(target, target_id, name, to_e164(raw))
    except InvalidPhone:
        return Far(target, target_id, name, None, f"nieprawidłowy numer: {raw}")


async def _band(session: AsyncSession, alarm: Alarm) -> Far:
    band = await session.get(Band, alarm.band_id) if alarm.band_id is not None else None
    if band is None:
        return Far(CallTarget.BAND, None, "opaska", None, "alarm bez opaski")
    return _far(CallTarget.BAND, band.id, band_name(band.serial), band.sim_phone, "opaska nie ma numeru karty SIM")


async def _resident(session: AsyncSession, alarm: Alarm) -> Far:
    resident = await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None
    if resident is None:
        return Far(CallTarget.RESIDENT, None, "podopieczny", None, "alarm bez podopiecznego")
    name = f"{resident.first_name} {resident.last_name}"
    return _far(CallTarget.RESIDENT, resident.id, name, resident.phone, "podopieczny nie ma numeru telefonu")


def _contact(contact: Contact) -> Far:
    return _far(CallTarget.CONTACT, contact.id, contact.name, contact.phone, "osoba nie ma numeru telefonu")


def _responder(shift: Shift) -> Far:
    return _far(CallTarget.RESPONDER, shift.id, shift.name, shift.phone, "dyżurny nie ma numeru telefonu")


async def _responders(session: AsyncSession, alarm: Alarm, at: datetime) -> list[Shift]:
    return await on_duty(session, DutyRole.RESPONDER, at, alarm.municipality_id)


async def call_targets(session: AsyncSession, alarm: Alarm, *, at: datetime) -> list[Far]:
    """Everyone the alarm page offers to call, in the page's order; a responder entry without a
    number says nobody is on duty."""
    targets = [await _band(session, alarm), await _resident(session, alarm)]
    if alarm.resident_id is not None:
        targets += [_contact(contact) for contact in await list_contacts(session, resident_id=alarm.resident_id)]
    responders = await _responders(session, alarm, at)
    targets += [_responder(shift) for shift in responders] or [
        Far(CallTarget.RESPONDER, None, "dyżurny", None, "nikt nie ma teraz dyżuru (opaska duty add)")
    ]
    return targets


async def far_end(
    session: AsyncSession, alarm: Alarm, target: CallTarget, target_id: int | None, *, at: datetime
) -> Far:
    """The one target asked for. `TargetNotFound` when it is not this alarm's to call."""
    match target:
        case CallTarget.BAND:
            far = await _band(session, alarm)
        case CallTarget.RESIDENT:
            far = await _resident(session, alarm)
        case CallTarget.CONTACT:
            contact = await session.get(Contact, target_id) if target_id is not None else None
            if contact is None or contact.resident_id != alarm.resident_id:
                raise TargetNotFound(f"osoba {target_id} nie jest na liście bliskich tego podopiecznego")
            return _contact(contact)
        case CallTarget.RESPONDER:
            responders = await _responders(session, alarm, at)
            if target_id is None:
                if not responders:
                    return Far(CallTarget.RESPONDER, None, "dyżurny", None, "nikt nie ma teraz dyżuru")
                return _responder(responders[0])
            chosen = next((shift for shift in responders if shift.id == target_id), None)
            if chosen is None:
                raise TargetNotFound(f"dyżur {target_id} nie trwa teraz")
            return _responder(chosen)
        case _:
            raise TargetNotFound(f"nie można zadzwonić do: {target}")
    if target_id is not None and far.target_id != target_id:
        raise TargetNotFound(f"{far.name} to nie {target} {target_id}")
    return far
