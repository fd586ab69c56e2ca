"""Rejected band messages for technicians: why a band's messages are refused, with the payload."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from console.auth.current import BandReader
from console.deps import SessionDep
from console.routes.registry_common import Text
from registry.model import Band, Resident
from registry.traffic.dead_letters import recent_dead_letters

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


@router.get("/api/band-rejects")
async def rejected_band_messages(
    user: BandReader,
    session: SessionDep,
    band: Annotated[Text | None, Query(max_length=64, description="one band's serial")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectedMessage]:
    """The newest rejected messages (of one band, or of all), newest first. Technicians and
    supervisors see those of their municipalities' bands; messages naming no known band, only
    administrators."""
    letters = await recent_dead_letters(session, band=band, limit=limit)
    if user.municipality_ids is not None:
        serials = {letter.band_serial for letter in letters if letter.band_serial}
        owners = dict(
            (
                await session.execute(
                    select(Band.serial, Resident.municipality_id)
                    .join(Resident, Resident.id == Band.resident_id)
                    .where(Band.serial.in_(serials))
                )
            ).all()
        )
        letters = [letter for letter in letters if letter.band_serial and user.sees(owners.get(letter.band_serial))]
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
