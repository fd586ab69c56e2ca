"""A relative, neighbour or carer as the console shows them: the registry's one view of a contact."""

from __future__ import annotations

from pydantic import BaseModel

from registry.model import Contact


class ContactView(BaseModel):
    id: int
    name: str
    relation: str
    phone: str
    priority: int
    language: str
    has_key: bool

    @classmethod
    def of(cls, contact: Contact) -> ContactView:
        return cls(
            id=contact.id,
            name=contact.name,
            relation=contact.relation,
            phone=contact.phone,
            priority=contact.priority,
            language=contact.language,
            has_key=contact.has_key,
        )
