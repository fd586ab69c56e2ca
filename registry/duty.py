"""The duty roster: who is the supervisor and who the on-call responder at any hour.

A shift is a row: a role, a person with a phone, a time span in UTC, and optionally one
municipality (NULL: every municipality). Shifts may overlap (a handover, two supervisors on a busy
night); `on_duty` returns everyone on duty, a municipality's own people before the centre-wide ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, case, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UtcDateTime
from registry.model import Municipality, StaffUser
from registry.phones import InvalidPhone, to_e164


class DutyRole(StrEnum):
    SUPERVISOR = "supervisor"
    RESPONDER = "responder"  # on call, reached by phone


class Shift(Base):
    __tablename__ = "duty_shift"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="span"),
        Index("ix_duty_shift_role_ends_at", "role", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # E.164, validated on the way in.
    phone: Mapped[str] = mapped_column(String(20))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    # NULL: on duty for every municipality of the centre.
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DutyError(ValueError):
    """Bad roster input; the message is one line naming the field."""


async def add_shift(
    session: AsyncSession,
    *,
    role: DutyRole | str,
    name: str,
    phone: str,
    starts_at: datetime,
    ends_at: datetime,
    created_at: datetime,
    staff_id: int | None = None,
    municipality_id: int | None = None,
) -> Shift:
    """Judge and add one shift (not committed). Times must carry a timezone; they are stored in UTC."""
    try:
        role = DutyRole(role)
    except ValueError:
        raise DutyError(f"role: one of {', '.join(DutyRole)} (got {role!r})") from None
    if not name.strip():
        raise DutyError("name: empty")
    try:
        e164 = to_e164(phone)
    except InvalidPhone as exc:
        raise DutyError(f"phone: {exc}") from None
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DutyError("from/to: a time without a timezone")
    if ends_at <= starts_at:
        raise DutyError("to: must be after from")
    if staff_id is not None and await session.get(StaffUser, staff_id) is None:
        raise DutyError(f"staff: no staff user {staff_id}")
    if municipality_id is not None and await session.get(Municipality, municipality_id) is None:
        raise DutyError(f"municipality: no municipality {municipality_id}")
    shift = Shift(
        role=role.value,
        name=name.strip(),
        phone=e164,
        staff_id=staff_id,
        municipality_id=municipality_id,
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        created_at=created_at,
    )
    session.add(shift)
    await session.flush()
    return shift


async def on_duty(
    session: AsyncSession, role: DutyRole | str, at: datetime, municipality_id: int | None = None
) -> list[Shift]:
    """Who holds `role` at `at` (start inclusive, end exclusive) for the municipality.

    The municipality's own shifts come first, then the centre-wide ones; within each, the shift
    that started last first (the one who just took over). Without a municipality: centre-wide
    shifts only.
    """
    where = [Shift.role == DutyRole(role).value, Shift.starts_at <= at, Shift.ends_at > at]
    if municipality_id is None:
        where.append(Shift.municipality_id.is_(None))
    else:
        where.append((Shift.municipality_id == municipality_id) | Shift.municipality_id.is_(None))
    own_first = case((Shift.municipality_id.is_(None), 1), else_=0)
    rows = await session.execute(select(Shift).where(*where).order_by(own_first, Shift.starts_at.desc(), Shift.id))
    return list(rows.scalars())


async def shifts_at(session: AsyncSession, at: datetime) -> list[Shift]:
    """Every shift on at `at`, by role, municipality-wide ones last."""
    rows = await session.execute(
        select(Shift)
        .where(Shift.starts_at <= at, Shift.ends_at > at)
        .order_by(Shift.role, Shift.municipality_id.is_(None), Shift.municipality_id, Shift.starts_at, Shift.id)
    )
    return list(rows.scalars())


async def upcoming(session: AsyncSession, since: datetime, limit: int = 200) -> list[Shift]:
    """Shifts not yet over at `since`, in the order they start."""
    rows = await session.execute(
        select(Shift).where(Shift.ends_at > since).order_by(Shift.starts_at, Shift.role, Shift.id).limit(limit)
    )
    return list(rows.scalars())
