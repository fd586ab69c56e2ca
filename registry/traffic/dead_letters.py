"""Rejected band messages, kept for technicians in a bounded table (the newest N rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, Text, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UtcDateTime

PAYLOAD_KEPT_CHARS = 1024


class DeadLetter(Base):
    __tablename__ = "band_dead_letter"
    __table_args__ = (Index("ix_band_dead_letter_band_serial_id", "band_serial", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The band the topic names; not necessarily registered, and NULL when the topic names none.
    band_serial: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(300))
    # The raw payload as text, truncated; bytes that are not UTF-8 are replaced.
    payload: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class DeadLetterEntry:
    received_at: datetime
    topic: str
    payload: bytes
    reason: str
    detail: str
    band: str | None
    kind: str | None

    def row(self) -> dict[str, object]:
        text = self.payload[: PAYLOAD_KEPT_CHARS * 4].decode("utf-8", "replace")[:PAYLOAD_KEPT_CHARS]
        return {
            "received_at": self.received_at,
            "band_serial": self.band[:64] if self.band else None,
            "topic": self.topic.replace("\x00", "\ufffd")[:256],
            "kind": self.kind[:32] if self.kind else None,
            "reason": self.reason[:32],
            "detail": self.detail.replace("\x00", "\ufffd")[:300],
            # PostgreSQL text refuses NUL.
            "payload": text.replace("\x00", "\ufffd"),
        }


async def keep_dead_letters(session: AsyncSession, entries: list[DeadLetterEntry], *, keep: int) -> None:
    """Insert the entries and drop all but the newest `keep` rows."""
    if not entries:
        return
    await session.execute(insert(DeadLetter), [entry.row() for entry in entries])
    newest = (await session.execute(select(func.max(DeadLetter.id)))).scalar_one()
    await session.execute(delete(DeadLetter).where(DeadLetter.id <= newest - keep))


async def recent_dead_letters(session: AsyncSession, *, band: str | None = None, limit: int = 100) -> list[DeadLetter]:
    """The newest rejected messages, of one band or of all; what a technician looks at."""
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if band is not None:
        query = query.where(DeadLetter.band_serial == band)
    return list((await session.execute(query)).scalars())
