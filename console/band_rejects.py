"""Rejected band messages for technicians: why a band's messages are refused, with the payload."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from console.context import ConsoleContext
from gateway.dead_letter import recent_dead_letters

router = APIRouter(tags=["bands"])


class RejectedMessage(BaseModel):
    received_at: datetime
    band: str | None
    topic: str
    kind: str | None
    reason: str
    detail: str
    # The first 1024 characters of the payload, bytes that are not UTF-8 replaced.
    payload: str


async def _session(request: Request) -> AsyncSession:
    context: ConsoleContext = request.app.state.context
    return context.session_factory()


@router.get("/api/band-rejects")
async def rejected_band_messages(
    session: Annotated[AsyncSession, Depends(_session)],
    band: Annotated[str | None, Query(max_length=64, description="one band's serial")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectedMessage]:
    """The newest rejected messages (of one band, or of all), newest first."""
    async with session:
        letters = await recent_dead_letters(session, band=band, limit=limit)
    return [
        RejectedMessage(
            received_at=letter.received_at,
            band=letter.band_serial,
            topic=letter.topic,
            kind=letter.kind,
            reason=letter.reason,
            detail=letter.detail,
            payload=letter.payload,
        )
        for letter in letters
    ]
