"""The resident's sex, as EU-funded programmes report participants by it: typed as K/M (or F, or the
words) in the console, the API and the import file; stored as F/M; refused with the field named
otherwise; erased with the rest of the person under RODO."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.gdpr import erase_resident
from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from registry import municipalities, validation
from registry.csv_import import import_csv
from registry.errors import RegistryError
from registry.model import Resident
from simulator.lab.processes import REPO
from simulator.lab.staff import create_staff, log_in

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("K", "F"), ("k", "F"), ("F", "F"), ("kobieta", "F"), (" M ", "M"), ("Mężczyzna", "M"), ("", None), (None, None)],
)
async def test_what_may_be_typed(typed: str | None, stored: str | None) -> None:
    assert validation.sex(typed) == stored


async def test_anything_else_is_refused_by_name() -> None:
    with pytest.raises(RegistryError) as refused:
        validation.sex("X", field="plec")
    assert refused.value.field == "plec"
    assert "K (kobieta) lub M (mężczyzna)" in refused.value.message


async def test_the_api_takes_it_and_refuses_nonsense(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        place = await municipalities.create_municipality(session, clock, code="m-sex", name="Gmina Płci")
    supervisor = await create_staff(sessions, clock, role="supervisor", municipality_ids=[place.id])
    app: Any = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, supervisor)
        body = {"municipality_id": place.id, "first_name": "Ewa", "last_name": "Nowak", "sex": "K"}
        created = await http.post("/api/registry/residents", json=body)
        assert created.status_code == 201, created.text
        resident = created.json()["resident"]
        assert resident["sex"] == "F"
        url = f"/api/registry/residents/{resident['id']}"
        refused = await http.patch(url, json={"sex": "?"})
        assert refused.status_code == 422
        assert "sex" in refused.text
        assert "K (kobieta)" in refused.text
        cleared = await http.patch(url, json={"sex": None})
        assert cleared.status_code == 200
        assert cleared.json()["resident"]["sex"] is None


async def test_the_import_file_carries_it_and_erasure_removes_it(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        await municipalities.create_municipality(session, clock, code="0264011", name="Wrocław")
    example = (REPO / "docs" / "examples" / "mieszkancy.csv").read_bytes()
    bad = example.decode("utf-8-sig").replace(";K;", ";Z;", 1).encode()
    async with sessions() as session, session.begin():
        checked = await import_csv(session, clock, data=bad, dry_run=True)
    assert [(p.row, p.column) for p in checked.problems] == [(2, "plec")]
    async with sessions() as session, session.begin():
        report = await import_csv(session, clock, data=example, dry_run=False)
    assert report.problems == []
    async with sessions() as session:
        sexes = {name: sex for name, sex in await session.execute(select(Resident.last_name, Resident.sex))}
    assert sexes == {"Kowalska": "F", "Żółkiewski": "M"}

    async with sessions() as session, session.begin():
        helena = (await session.execute(select(Resident).where(Resident.last_name == "Kowalska"))).scalar_one()
        await erase_resident(session, clock, resident_id=helena.id, staff_id=None)
    async with sessions() as session:
        erased = await session.get(Resident, helena.id)
        assert erased is not None
        assert erased.sex is None
