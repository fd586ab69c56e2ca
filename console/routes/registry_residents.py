"""The registry API of municipalities, residents and their contacts.

Everyone on the staff reads residents of their municipalities (no medical notes: those only for
supervisors and administrators, who keep the list, one reading at a time, each recorded);
supervisors and administrators add, change and deactivate residents and their contacts;
administrators add municipalities. Every refusal is a field error in Polish: 404, 409 for a
duplicate or a clash, 422 for bad input, 403 for another municipality's resident.
"""

import logging
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.voice import recording
from console.api.scope import not_yours
from console.auth.current import AnyStaff, StaffPrincipal, Supervisor, require_role
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.routes.registry_common import (
    BandEventView,
    BandView,
    PolishRoute,
    Text,
    band_event_views,
    band_view_of,
    field_error,
    not_found,
    registry_errors,
    scope_ids,
    visible_resident,
)
from registry import band_directory, contacts, municipalities, residents
from registry.band_events import resident_band_history
from registry.band_signal import BandWhereabouts, band_whereabouts
from registry.contact_view import ContactView
from registry.model import Contact, Resident, StaffRole

log = logging.getLogger(__name__)
router = APIRouter(tags=["registry"], route_class=PolishRoute)
Administrator = Annotated[StaffPrincipal, Depends(require_role())]
MANAGERS = frozenset({StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR})


# ---- municipalities ---------------------------------------------------------------------------------


class MunicipalityView(BaseModel):
    id: int
    code: str
    name: str


class MunicipalityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[Text, Field(max_length=32)]
    name: Annotated[Text, Field(max_length=200)]


@router.get("/api/registry/municipalities")
async def list_municipalities(user: AnyStaff, session: SessionDep) -> list[MunicipalityView]:
    """The municipalities the user works for (an administrator: all), by code."""
    found = await municipalities.list_municipalities(session)
    return [MunicipalityView(id=m.id, code=m.code, name=m.name) for m in found if user.sees(m.id)]


@router.post("/api/registry/municipalities", status_code=status.HTTP_201_CREATED)
async def create_municipality(
    body: MunicipalityCreate, user: Administrator, session: SessionDep, clock: ClockDep
) -> MunicipalityView:
    """A new municipality (administrators); 409 for a code already used."""
    async with session.begin():
        with registry_errors():
            created = await municipalities.create_municipality(session, clock, code=body.code, name=body.name)
        return MunicipalityView(id=created.id, code=created.code, name=created.name)


# ---- residents -------------------------------------------------------------------------------------------


class ResidentView(BaseModel):
    id: int
    municipality_id: int
    municipality: str
    first_name: str
    last_name: str
    birth_date: date | None
    # "F" or "M"; None: not recorded (the funder's figures count it as such).
    sex: str | None = None
    address: str
    phone: str | None
    language: str
    # How to get in (who has a key, the entry phone): technicians need it at the door.
    access_notes: str
    active: bool
    created_at: datetime
    # When the resident agreed to their calls being recorded (RODO); None: no consent, never recorded.
    call_recording_consent_at: datetime | None = None
    # Serials of the bands the resident wears now.
    bands: list[str]


class ResidentDetail(BaseModel):
    resident: ResidentView
    # Whether medical notes are kept (supervisors and administrators; None for everyone else). The
    # notes themselves only through GET .../medical-notes, which records who read them.
    has_medical_notes: bool | None
    has_key_safe_code: bool
    contacts: list[ContactView]
    bands: list[BandView]
    # Each worn band's last signal (time and kind) and last known position, in the order of `bands`.
    whereabouts: list[BandWhereabouts] = []
    # Every band event naming the resident (which bands they wore, swaps, tests), oldest first.
    band_history: list[BandEventView]


class ResidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality_id: DbId
    first_name: Annotated[Text, Field(max_length=100)]
    last_name: Annotated[Text, Field(max_length=100)]
    address: Annotated[Text, Field(max_length=300)] = ""
    birth_date: date | None = None
    sex: Annotated[Text, Field(max_length=16, description="K/F (kobieta) or M (mężczyzna)")] | None = None
    phone: Annotated[Text, Field(max_length=40)] | None = None
    access_notes: Annotated[Text, Field(max_length=5000)] = ""
    medical_notes: Annotated[Text, Field(max_length=5000)] = ""
    language: Annotated[Text, Field(max_length=8)] = "pl"


class ResidentUpdate(BaseModel):
    """Only the fields sent are changed; `phone`, `birth_date` or `sex` null removes them."""

    model_config = ConfigDict(extra="forbid")

    first_name: Annotated[Text, Field(max_length=100)] | None = None
    last_name: Annotated[Text, Field(max_length=100)] | None = None
    address: Annotated[Text, Field(max_length=300)] | None = None
    birth_date: date | None = None
    sex: Annotated[Text, Field(max_length=16, description="K/F (kobieta) or M (mężczyzna)")] | None = None
    phone: Annotated[Text, Field(max_length=40)] | None = None
    access_notes: Annotated[Text, Field(max_length=5000)] | None = None
    medical_notes: Annotated[Text, Field(max_length=5000)] | None = None
    language: Annotated[Text, Field(max_length=8)] | None = None


def _resident_view(resident: Resident, municipality: str, bands: list[str]) -> ResidentView:
    return ResidentView(
        id=resident.id,
        municipality_id=resident.municipality_id,
        municipality=municipality,
        first_name=resident.first_name,
        last_name=resident.last_name,
        birth_date=resident.birth_date,
        sex=resident.sex,
        address=resident.address,
        phone=resident.phone,
        language=resident.language,
        access_notes=resident.access_notes,
        active=resident.active,
        created_at=resident.created_at,
        call_recording_consent_at=resident.call_recording_consent_at,
        bands=bands,
    )


async def _views(session: AsyncSession, found: list[Resident]) -> list[ResidentView]:
    names = await municipalities.municipality_names(session, {r.municipality_id for r in found})
    worn = await band_directory.worn_serials(session, {r.id for r in found})
    return [_resident_view(r, names.get(r.municipality_id, ""), worn.get(r.id, [])) for r in found]


def _matches(resident: Resident, words: list[str]) -> bool:
    haystack = " ".join(
        [resident.first_name, resident.last_name, resident.address, resident.phone or "", str(resident.id)]
    ).casefold()
    return all(word in haystack for word in words)


@router.get("/api/registry/residents")
async def list_residents(
    user: AnyStaff,
    session: SessionDep,
    municipality_id: DbId | None = None,
    q: Annotated[Text, Query(max_length=200, description="words to find in name, address, phone or id")] = "",
    include_inactive: bool = False,
) -> list[ResidentView]:
    """Residents of the user's municipalities by name, narrowed to one municipality and by words."""
    scope = scope_ids(user, municipality_id)
    found = await residents.list_residents(session, municipality_ids=scope, include_inactive=include_inactive)
    words = q.casefold().split()
    if words:
        found = [r for r in found if _matches(r, words)]
    return await _views(session, found)


async def _detail(session: AsyncSession, user: StaffPrincipal, resident: Resident, now: datetime) -> ResidentDetail:
    [view] = await _views(session, [resident])
    worn = await band_directory.bands_worn_by(session, resident_id=resident.id)
    name = f"{resident.first_name} {resident.last_name}"
    return ResidentDetail(
        resident=view,
        has_medical_notes=bool(resident.medical_notes) if user.role in MANAGERS else None,
        has_key_safe_code=resident.key_safe_code_encrypted is not None,
        contacts=[ContactView.of(c) for c in await contacts.list_contacts(session, resident_id=resident.id)],
        bands=[band_view_of(band, resident.municipality_id, name, now) for band in worn],
        whereabouts=[band_whereabouts(band) for band in worn],
        band_history=await band_event_views(session, await resident_band_history(session, resident_id=resident.id)),
    )


@router.get("/api/registry/residents/{resident_id}")
async def get_resident(resident_id: DbId, user: AnyStaff, session: SessionDep, clock: ClockDep) -> ResidentDetail:
    """One resident with contacts in calling order, the bands they wear and their band history."""
    resident = await visible_resident(session, user, resident_id)
    return await _detail(session, user, resident, clock.now())


@router.post("/api/registry/residents", status_code=status.HTTP_201_CREATED)
async def create_resident(
    body: ResidentCreate, user: Supervisor, session: SessionDep, clock: ClockDep
) -> ResidentDetail:
    """A new resident in one of the user's municipalities."""
    if not user.sees(body.municipality_id):
        raise not_yours(f"municipality {body.municipality_id}")
    async with session.begin():
        with registry_errors():
            resident = await residents.create_resident(session, clock, **body.model_dump())
        return await _detail(session, user, resident, clock.now())


@router.patch("/api/registry/residents/{resident_id}")
async def update_resident(
    resident_id: DbId, body: ResidentUpdate, user: Supervisor, session: SessionDep, clock: ClockDep
) -> ResidentDetail:
    """Change the fields sent."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for required in ("first_name", "last_name"):
        if required in changes and changes[required] is None:
            changes[required] = ""  # refused by the registry as "pole wymagane"
    for text_field in ("address", "access_notes", "medical_notes", "language"):
        if text_field in changes and changes[text_field] is None:
            changes[text_field] = "" if text_field != "language" else "pl"
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        with registry_errors():
            resident = await residents.update_resident(session, clock, resident_id=resident.id, **changes)
        return await _detail(session, user, resident, clock.now())


class MedicalNotes(BaseModel):
    medical_notes: str


@router.get("/api/registry/residents/{resident_id}/medical-notes")
async def read_medical_notes(resident_id: DbId, user: Supervisor, session: SessionDep, clock: ClockDep) -> MedicalNotes:
    """The resident's medical notes; the reading is recorded (who, when) and is in the RODO export."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        notes = await residents.read_medical_notes(session, clock, resident_id=resident.id, staff_id=user.id)
    return MedicalNotes(medical_notes=notes)


@router.post("/api/registry/residents/{resident_id}/deactivate")
async def deactivate_resident(
    resident_id: DbId, user: Supervisor, session: SessionDep, clock: ClockDep
) -> ResidentDetail:
    """The resident leaves the programme: inactive, their band back in stock (recorded in its history).
    Their data stays until an administrator erases it."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        with registry_errors():
            resident = await residents.deactivate_resident(session, clock, resident_id=resident.id, staff_id=user.id)
        return await _detail(session, user, resident, clock.now())


class RecordingConsent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: bool
    # The day the resident signed the consent form; default today. Only with "consent": true.
    signed_on: date | None = None


class RecordingConsentView(BaseModel):
    resident_id: int
    call_recording_consent_at: datetime | None
    # Whether the resident's municipality records calls at all ([voice] record_municipalities):
    # without it, consent alone records nothing.
    municipality_records_calls: bool


@router.put("/api/registry/residents/{resident_id}/call-recording-consent")
async def set_call_recording_consent(
    resident_id: DbId, body: RecordingConsent, request: Request, user: Supervisor, session: SessionDep, clock: ClockDep
) -> RecordingConsentView:
    """Record the resident's consent to their calls with the centre being recorded, or its
    withdrawal (recordings made before stay until their retention ends). docs/voice.md."""
    now = clock.now()
    if body.signed_on is not None and not body.consent:
        raise field_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "signed_on", "datę podaje się tylko przy udzielaniu zgody"
        )
    if body.signed_on is not None and body.signed_on > now.date():
        raise field_error(status.HTTP_422_UNPROCESSABLE_CONTENT, "signed_on", "data zgody nie może być z przyszłości")
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        if body.consent and not resident.active:
            raise field_error(
                status.HTTP_409_CONFLICT, "consent", "mieszkaniec nie jest w programie: zgody nie odnotowuje się"
            )
        resident.call_recording_consent_at = recording.consent_moment(body.signed_on, now) if body.consent else None
        records = await recording.municipality_records_calls(
            session, municipality_id=resident.municipality_id, voice=context_of(request).voice
        )
    log.info("resident %d: call recording consent %s by staff %d", resident_id, body.consent, user.id)
    return RecordingConsentView(
        resident_id=resident_id,
        call_recording_consent_at=resident.call_recording_consent_at,
        municipality_records_calls=records,
    )


# ---- contacts ------------------------------------------------------------------------------------------


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, Field(max_length=200)]
    phone: Annotated[Text, Field(max_length=40)]
    # 1 is called first; without one the contact comes last.
    priority: Annotated[int, Field(ge=1, le=1000)] | None = None
    relation: Annotated[Text, Field(max_length=50)] = ""
    language: Annotated[Text, Field(max_length=8)] = "pl"
    has_key: bool = False


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, Field(max_length=200)] | None = None
    phone: Annotated[Text, Field(max_length=40)] | None = None
    relation: Annotated[Text, Field(max_length=50)] | None = None
    language: Annotated[Text, Field(max_length=8)] | None = None
    has_key: bool | None = None


class ContactOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: Annotated[list[DbId], Field(max_length=100)]


async def _visible_contact(session: AsyncSession, user: StaffPrincipal, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise not_found(f"nie ma kontaktu o id {contact_id}")
    await visible_resident(session, user, contact.resident_id)
    return contact


@router.post("/api/registry/residents/{resident_id}/contacts", status_code=status.HTTP_201_CREATED)
async def add_contact(
    resident_id: DbId, body: ContactCreate, user: Supervisor, session: SessionDep, clock: ClockDep
) -> list[ContactView]:
    """Add a contact; the list in its new calling order is returned."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        with registry_errors():
            await contacts.add_contact(session, clock, resident_id=resident.id, **body.model_dump())
        return [ContactView.of(c) for c in await contacts.list_contacts(session, resident_id=resident.id)]


@router.patch("/api/registry/contacts/{contact_id}")
async def update_contact(contact_id: DbId, body: ContactUpdate, user: Supervisor, session: SessionDep) -> ContactView:
    changes = {name: value for name, value in body.model_dump(exclude_unset=True).items()}
    for name in ("name", "phone"):
        if name in changes and changes[name] is None:
            changes[name] = ""
    if "relation" in changes and changes["relation"] is None:
        changes["relation"] = ""
    if "language" in changes and changes["language"] is None:
        changes["language"] = "pl"
    if "has_key" in changes and changes["has_key"] is None:
        changes["has_key"] = False
    async with session.begin():
        contact = await _visible_contact(session, user, contact_id)
        with registry_errors():
            contact = await contacts.update_contact(session, contact_id=contact.id, **changes)
        return ContactView.of(contact)


@router.delete("/api/registry/contacts/{contact_id}")
async def remove_contact(contact_id: DbId, user: Supervisor, session: SessionDep) -> list[ContactView]:
    """Remove the contact; the others move up. Returns the resident's contacts left."""
    async with session.begin():
        contact = await _visible_contact(session, user, contact_id)
        resident_id = contact.resident_id
        with registry_errors():
            await contacts.remove_contact(session, contact_id=contact.id)
        return [ContactView.of(c) for c in await contacts.list_contacts(session, resident_id=resident_id)]


@router.put("/api/registry/residents/{resident_id}/contacts/order")
async def reorder_contacts(
    resident_id: DbId, body: ContactOrder, user: Supervisor, session: SessionDep
) -> list[ContactView]:
    """Set the calling order: every one of the resident's contact ids once, first called first."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        with registry_errors():
            ordered = await contacts.reorder_contacts(session, resident_id=resident.id, contact_ids=body.contact_ids)
        return [ContactView.of(c) for c in ordered]
