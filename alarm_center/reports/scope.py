"""What a report covers: one municipality, or the whole centre (every municipality the person
asking may see). Every figure of a report is computed over the scope's municipalities at once, so
the centre's report is the sum of the municipalities' where a sum is meant (alarms, joined, left)
and counts each person once where people are meant (participants)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.model import Municipality

# The scope code of the whole centre in file names, the CLI and the API (no municipality's code
# may be taken for it: codes are the TERYT-like codes of gminas).
CENTRE = "centrum"


class ReportError(ValueError):
    """Input a report cannot be made from; the message says what is wrong, in Polish, for a person."""


class UnknownMunicipality(ReportError):
    pass


@dataclass(frozen=True)
class ReportScope:
    code: str  # the municipality's code, or CENTRE
    name: str  # the municipality's name, or the centre's
    municipality_ids: tuple[int, ...]
    # The municipalities' names in the centre's report (one municipality: just its own).
    municipality_names: tuple[str, ...]

    @property
    def is_centre(self) -> bool:
        return self.code == CENTRE


async def find_municipality(session: AsyncSession, code: str) -> Municipality:
    municipality = (
        await session.execute(select(Municipality).where(Municipality.code == code.strip()))
    ).scalar_one_or_none()
    if municipality is None:
        raise UnknownMunicipality(f"nie ma gminy o kodzie {code!r} (lista: opaska municipality list)")
    return municipality


async def municipality_scope(session: AsyncSession, code: str) -> ReportScope:
    found = await find_municipality(session, code)
    return ReportScope(found.code, found.name, (found.id,), (found.name,))


async def centre_scope(
    session: AsyncSession, centre_name: str, sees: Callable[[int], bool] | None = None
) -> ReportScope:
    """Every municipality (or those `sees` allows); ReportError when there is none."""
    rows = (await session.execute(select(Municipality).order_by(Municipality.name))).scalars()
    chosen = [m for m in rows if sees is None or sees(m.id)]
    if not chosen:
        raise ReportError("centrum nie obsługuje jeszcze żadnej gminy (opaska municipality add)")
    return ReportScope(CENTRE, centre_name, tuple(m.id for m in chosen), tuple(m.name for m in chosen))
