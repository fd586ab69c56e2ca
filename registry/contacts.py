"""A resident's contacts: relatives, neighbours, key holders, called in priority order (1 first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import validation
from registry.errors import NotFound, RegistryError
from registry.model import Contact, Resident


async def list_contacts(session: AsyncSession, *, resident_id: int) -> list[Contact]:
    return list(
        (
            await session.execute(
                select(Contact).where(Contact.resident_id == resident_id).order_by(Contact.priority, Contact.id)
            )
        ).scalars()
    )


async def add_contact(
    session: AsyncSession,
    clock: Clock,
    *,
    resident_id: int,
    name: str,
    phone: str,
    priority: int | None = None,
    relation: str = "",
    language: str = "pl",
    has_key: bool = False,
) -> Contact:
    """Add a contact; without a priority it comes last. A priority already taken moves the
    contacts from there on one place down, so the order stays 1, 2, 3... without gaps or ties."""
    if await session.get(Resident, resident_id) is None:
        raise NotFound(field="resident_id", message=f"nie ma mieszkańca o id {resident_id}")
    existing = await list_contacts(session, resident_id=resident_id)
    place = len(existing) + 1 if priority is None else priority
    if not 1 <= place <= len(existing) + 1:
        raise RegistryError(field="priority", message=f"kolejność od 1 do {len(existing) + 1}")
    contact = Contact(
        resident_id=resident_id,
        name=validation.required_text(name, field="name", max_length=200),
        phone=validation.phone(phone),
        priority=place,
        relation=validation.optional_text(relation, field="relation", max_length=50),
        language=validation.language(language),
        has_key=has_key,
        created_at=clock.now(),
    )
    ordered = [*existing]
    ordered.insert(place - 1, contact)
    session.add(contact)
    _number(ordered)
    await session.flush()
    return contact


async def get_contact(session: AsyncSession, *, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(field="contact_id", message=f"nie ma kontaktu o id {contact_id}")
    return contact


async def update_contact(session: AsyncSession, *, contact_id: int, **changes: Any) -> Contact:
    """Change name, phone, relation, language or has_key (the order: `reorder_contacts`)."""
    contact = await get_contact(session, contact_id=contact_id)
    for name, value in changes.items():
        if name == "name":
            contact.name = validation.required_text(value, field="name", max_length=200)
        elif name == "phone":
            contact.phone = validation.phone(value)
        elif name == "relation":
            contact.relation = validation.optional_text(value, field="relation", max_length=50)
        elif name == "language":
            contact.language = validation.language(value)
        elif name == "has_key":
            contact.has_key = bool(value)
        else:
            raise RegistryError(field=name, message="tego pola nie można zmienić")
    await session.flush()
    return contact


async def remove_contact(session: AsyncSession, *, contact_id: int) -> None:
    """Delete the contact; the ones after it move up. Past notifications keep their number and text."""
    contact = await get_contact(session, contact_id=contact_id)
    resident_id = contact.resident_id
    await session.delete(contact)
    await session.flush()
    _number(await list_contacts(session, resident_id=resident_id))
    await session.flush()


async def reorder_contacts(session: AsyncSession, *, resident_id: int, contact_ids: list[int]) -> list[Contact]:
    """Set the calling order: `contact_ids` must name each of the resident's contacts once."""
    existing = await list_contacts(session, resident_id=resident_id)
    by_id = {contact.id: contact for contact in existing}
    if len(contact_ids) != len(set(contact_ids)) or set(contact_ids) != set(by_id):
        raise RegistryError(
            field="contact_ids", message="podaj każdy kontakt tego mieszkańca dokładnie raz, w nowej kolejności"
        )
    ordered = [by_id[contact_id] for contact_id in contact_ids]
    _number(ordered)
    await session.flush()
    return ordered


async def count_contacts(session: AsyncSession, *, resident_id: int) -> int:
    return (
        await session.execute(select(func.count()).select_from(Contact).where(Contact.resident_id == resident_id))
    ).scalar_one()


def _number(ordered: list[Contact]) -> None:
    for place, contact in enumerate(ordered, 1):
        contact.priority = place
