"""Municipalities (gminy): the tenants."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import validation
from registry.errors import Duplicate, NotFound
from registry.model import Municipality


async def create_municipality(session: AsyncSession, clock: Clock, *, code: str, name: str) -> Municipality:
    code = validation.required_text(code, field="code", max_length=32)
    name = validation.required_text(name, field="name", max_length=200)
    if await find_by_code(session, code=code) is not None:
        raise Duplicate(field="code", message=f"gmina o kodzie {code!r} już istnieje")
    municipality = Municipality(code=code, name=name, timezone="Europe/Warsaw", created_at=clock.now())
    session.add(municipality)
    await session.flush()
    return municipality


async def find_by_code(session: AsyncSession, *, code: str) -> Municipality | None:
    return (await session.execute(select(Municipality).where(Municipality.code == code))).scalar_one_or_none()


async def get_by_code(session: AsyncSession, *, code: str, field: str = "municipality") -> Municipality:
    found = await find_by_code(session, code=code)
    if found is None:
        raise NotFound(field=field, message=f"nie ma gminy o kodzie {code!r}")
    return found


async def list_municipalities(session: AsyncSession) -> list[Municipality]:
    return list((await session.execute(select(Municipality).order_by(Municipality.code))).scalars())


async def municipality_names(session: AsyncSession, municipality_ids: Collection[int]) -> dict[int, str]:
    rows = await session.execute(
        select(Municipality.id, Municipality.name).where(Municipality.id.in_(list(municipality_ids)))
    )
    return {municipality_id: name for municipality_id, name in rows}
