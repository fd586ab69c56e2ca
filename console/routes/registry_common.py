"""What the registry's API modules share: Polish error answers, municipality scoping of residents
and bands, the band settings, and the views of a band and its history.

No `router` here: this module serves nothing itself (console/routes/ serves only modules that
define one).
"""

import contextlib
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from console.api.scope import not_yours
from console.auth.current import StaffPrincipal
from core.clock import Clock
from registry import band_directory
from registry.errors import Conflict, Duplicate, NotFound, RegistryError
from registry.installation_test import in_test_mode
from registry.model import Band, BandEvent, BandTestResult, Resident


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here as bad input instead of failing in the database.
    if "\x00" in value:
        raise ValueError("tekst zawiera niedozwolony znak (NUL)")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


# ---- errors in Polish ------------------------------------------------------------------------------

_PYDANTIC_PL: dict[str, str] = {
    "missing": "pole wymagane",
    "int_parsing": "podaj liczbę całkowitą",
    "int_type": "podaj liczbę całkowitą",
    "int_from_float": "podaj liczbę całkowitą",
    "float_parsing": "podaj liczbę",
    "bool_parsing": "podaj tak albo nie (true/false)",
    "bool_type": "podaj tak albo nie (true/false)",
    "string_type": "podaj tekst",
    "list_type": "podaj listę",
    "date_parsing": "nieprawidłowa data (RRRR-MM-DD)",
    "date_from_datetime_parsing": "nieprawidłowa data (RRRR-MM-DD)",
    "date_type": "nieprawidłowa data (RRRR-MM-DD)",
    "datetime_parsing": "nieprawidłowa data i godzina (RRRR-MM-DDTGG:MM)",
    "datetime_from_date_parsing": "nieprawidłowa data i godzina (RRRR-MM-DDTGG:MM)",
    "datetime_type": "nieprawidłowa data i godzina (RRRR-MM-DDTGG:MM)",
    "extra_forbidden": "nieznane pole",
    "json_invalid": "nieprawidłowy JSON",
    "model_attributes_type": "oczekiwano obiektu JSON",
    "dict_type": "oczekiwano obiektu JSON",
    "literal_error": "niedozwolona wartość",
    "enum": "niedozwolona wartość",
}


def _polish(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _PYDANTIC_PL:
        return _PYDANTIC_PL[kind]
    if kind == "string_too_long":
        return f"najwyżej {ctx.get('max_length')} znaków"
    if kind == "string_too_short":
        return (
            f"co najmniej {ctx.get('min_length')} znaków" if ctx.get("min_length", 0) > 1 else "pole nie może być puste"
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "liczba poza dozwolonym zakresem"
    if kind == "too_long":
        return f"najwyżej {ctx.get('max_length')} elementów"
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ") or "nieprawidłowa wartość"
    return "nieprawidłowa wartość"


def polish_validation_detail(errors: Any) -> list[dict[str, Any]]:
    return [
        {"loc": list(error.get("loc", ())), "msg": _polish(error), "type": error.get("type", "value_error")}
        for error in errors
    ]


class PolishRoute(APIRoute):
    """A route whose request-validation errors keep FastAPI's 422 shape with messages in Polish
    (the console shows them to staff as they are)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def polish_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, polish_validation_detail(exc.errors())
                ) from None

        return polish_handler


def field_error(code: int, field: str, message: str, where: str = "body") -> HTTPException:
    return HTTPException(code, [{"loc": [where, field], "msg": message, "type": "registry"}])


@contextlib.contextmanager
def registry_errors(where: str = "body") -> Iterator[None]:
    """A registry refusal as HTTP: NotFound 404, Duplicate and Conflict 409, anything else 422,
    each in FastAPI's field-error shape with the domain's Polish message."""
    try:
        yield
    except NotFound as exc:
        raise field_error(status.HTTP_404_NOT_FOUND, exc.field, exc.message, where) from None
    except (Duplicate, Conflict) as exc:
        raise field_error(status.HTTP_409_CONFLICT, exc.field, exc.message, where) from None
    except RegistryError as exc:
        raise field_error(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.field, exc.message, where) from None


def not_found(what: str, field: str = "id") -> HTTPException:
    return field_error(status.HTTP_404_NOT_FOUND, field, what, "path")


# ---- scoping -----------------------------------------------------------------------------------------


def scope_ids(user: StaffPrincipal, municipality_id: int | None) -> frozenset[int] | None:
    """The municipalities a list may show: the user's (or all for an administrator), narrowed to
    the one asked for; 403 when the user asks for one not theirs."""
    if municipality_id is not None:
        if not user.sees(municipality_id):
            raise not_yours(f"municipality {municipality_id}")
        return frozenset({municipality_id})
    return user.municipality_ids


async def visible_resident(session: AsyncSession, user: StaffPrincipal, resident_id: int) -> Resident:
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise not_found(f"nie ma mieszkańca o id {resident_id}")
    if not user.sees(resident.municipality_id):
        raise not_yours(f"resident {resident_id}")
    return resident


def may_see_band(user: StaffPrincipal, municipality_id: int | None) -> bool:
    # Stock never given to anyone holds nobody's data: every band reader may take it for a visit.
    return municipality_id is None or user.sees(municipality_id)


async def visible_band(session: AsyncSession, user: StaffPrincipal, band_id: int) -> tuple[Band, int | None]:
    """The band (404) if the user may see it (403), and the municipality it belongs to."""
    band = await session.get(Band, band_id)
    if band is None:
        raise not_found(f"nie ma opaski o id {band_id}")
    municipality_id = await band_directory.band_municipality(session, band)
    if not may_see_band(user, municipality_id):
        raise not_yours(f"band {band_id}")
    return band, municipality_id


# ---- views ----------------------------------------------------------------------------------------------


class BandView(BaseModel):
    id: int
    serial: str
    imei: str | None
    # How the band reaches us (mqtt, traccar, watch) and its identity there (None for mqtt).
    adapter: str = "mqtt"
    device_id: str | None = None
    model: str
    firmware: str
    sim_phone: str | None
    status: str
    resident_id: int | None
    resident_name: str | None
    municipality_id: int | None
    # Whether the band can log in to the broker (a secret is issued and not revoked).
    has_credentials: bool
    credentials_revoked_at: datetime | None
    in_test_mode: bool
    test_mode_until: datetime | None
    online: bool | None
    last_seen_at: datetime | None
    battery_pct: int | None
    charging: bool | None
    worn: bool | None
    signal: int | None
    created_at: datetime


async def band_view(session: AsyncSession, clock: Clock, band: Band, municipality_id: int | None) -> BandView:
    return band_view_of(band, municipality_id, await band_directory.wearer_name(session, band), clock.now())


def band_view_of(band: Band, municipality_id: int | None, resident_name: str | None, now: datetime) -> BandView:
    return BandView(
        id=band.id,
        serial=band.serial,
        imei=band.imei,
        adapter=band.adapter,
        device_id=band.device_id,
        model=band.model,
        firmware=band.firmware,
        sim_phone=band.sim_phone,
        status=band.status,
        resident_id=band.resident_id,
        resident_name=resident_name,
        municipality_id=municipality_id,
        has_credentials=band.secret_hash is not None,
        credentials_revoked_at=band.credentials_revoked_at,
        in_test_mode=in_test_mode(band, now),
        test_mode_until=band.test_mode_until if in_test_mode(band, now) else None,
        online=band.online,
        last_seen_at=band.last_seen_at,
        battery_pct=band.battery_pct,
        charging=band.charging,
        worn=band.worn,
        signal=band.signal,
        created_at=band.created_at,
    )


class BandEventView(BaseModel):
    id: int
    at: datetime
    type: str
    band_id: int
    band_serial: str
    resident_id: int | None
    other_band_id: int | None
    other_band_serial: str | None
    staff_id: int | None
    staff_name: str | None
    note: str


async def band_event_views(session: AsyncSession, events: list[BandEvent]) -> list[BandEventView]:
    band_ids = {e.band_id for e in events} | {e.other_band_id for e in events if e.other_band_id is not None}
    staff_ids = {e.staff_id for e in events if e.staff_id is not None}
    serials = await band_directory.band_serials(session, band_ids)
    names = await band_directory.staff_names(session, staff_ids)
    return [
        BandEventView(
            id=e.id,
            at=e.at,
            type=e.type,
            band_id=e.band_id,
            band_serial=serials.get(e.band_id, ""),
            resident_id=e.resident_id,
            other_band_id=e.other_band_id,
            other_band_serial=serials.get(e.other_band_id) if e.other_band_id is not None else None,
            staff_id=e.staff_id,
            staff_name=names.get(e.staff_id) if e.staff_id is not None else None,
            note=e.note,
        )
        for e in events
    ]


class BandTestView(BaseModel):
    id: int
    alarm_id: int | None
    kind: str
    pressed_at: datetime | None
    received_at: datetime
    # Milliseconds from the press (the band's clock) to receipt; None when the band's clock is not believable.
    latency_ms: int | None
    passed: bool
    # Why it failed, in Polish; empty when it passed.
    note: str
    technician_id: int | None


def band_test_view(result: BandTestResult) -> BandTestView:
    return BandTestView(
        id=result.id,
        alarm_id=result.alarm_id,
        kind=result.kind,
        pressed_at=result.pressed_at,
        received_at=result.received_at,
        latency_ms=result.latency_ms,
        passed=result.passed,
        note=result.note,
        technician_id=result.technician_id,
    )
