"""Residents' secrets the console keeps: storing a key-safe code (read through an alarm, audited)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from console.api.scope import not_yours
from console.auth.current import KeySafeKeeper
from console.bounds import DbId
from console.deps import SessionDep, context_of
from console.key_safe import MAX_CODE_LENGTH, KeySafeCodeRejected, KeySafeUnavailable, set_key_safe_code
from registry.errors import NotFound
from registry.residents import get_resident

router = APIRouter(tags=["residents"])


class KeySafeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None removes the stored code.
    code: Annotated[str | None, Field(min_length=1, max_length=MAX_CODE_LENGTH)]


@router.put("/api/residents/{resident_id}/key-safe", status_code=status.HTTP_204_NO_CONTENT)
async def store_key_safe_code(
    resident_id: DbId,
    body: KeySafeRequest,
    user: KeySafeKeeper,
    request: Request,
    session: SessionDep,
) -> None:
    """Store (or with `code: null` remove) the resident's key-safe code, encrypted at rest."""
    async with session.begin():
        try:
            resident = await get_resident(session, resident_id=resident_id)
        except NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"resident {resident_id} does not exist") from None
        if not user.sees(resident.municipality_id):
            raise not_yours(f"resident {resident_id}")
        try:
            await set_key_safe_code(session, context_of(request).data_key, resident_id=resident_id, code=body.code)
        except KeySafeUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        except KeySafeCodeRejected as exc:
            detail = [{"loc": ["body", "code"], "msg": str(exc), "type": "value_error"}]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None
