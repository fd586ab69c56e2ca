"""`make demo` seeds complete residents: phone, birth date, medical notes, key-safe code, how to get
in, two or three relatives (one with a key), a band; GPS bands have a position near the home. An
older demo database is completed at the next start, without doubling anything."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import phonenumbers
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from console.key_safe import read_key_safe_code
from core.clock import FakeClock
from opaska.demo import DEMO_MUNICIPALITY, seed_demo
from opaska.demo_residents import DEMO_RESIDENTS
from registry import duty, service
from registry.contacts import list_contacts
from registry.model import Band, Municipality, Resident
from simulator.lab.staff import create_staff, log_in

pytestmark = pytest.mark.asyncio


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    return math.hypot((a[0] - b[0]) * 111_320, (a[1] - b[1]) * 111_320 * math.cos(lat))


async def _residents(sessions: async_sessionmaker[AsyncSession]) -> list[Resident]:
    async with sessions() as session:
        query = (
            select(Resident)
            .join(Municipality, Municipality.id == Resident.municipality_id)
            .where(Municipality.code == DEMO_MUNICIPALITY)
            .order_by(Resident.id)
        )
        return list((await session.execute(query)).scalars())


async def _assert_complete(sessions: async_sessionmaker[AsyncSession], key: Fernet) -> None:
    residents = await _residents(sessions)
    assert [(r.first_name, r.last_name) for r in residents] == [(d.first_name, d.last_name) for d in DEMO_RESIDENTS]
    for resident, demo in zip(residents, DEMO_RESIDENTS, strict=True):
        who = resident.first_name
        assert resident.phone, who
        assert phonenumbers.is_valid_number(phonenumbers.parse(resident.phone)), who
        assert resident.phone.startswith("+48500000"), who  # the fictional block
        assert resident.birth_date is not None, who
        assert 1930 < resident.birth_date.year < 1955, who
        assert len(resident.medical_notes) > 20, who
        assert len(resident.access_notes) > 10, who
        assert resident.address, who
        assert resident.key_safe_code_encrypted is not None, who
        assert read_key_safe_code(key, resident.key_safe_code_encrypted) == demo.key_safe_code
        async with sessions() as session:
            contacts = await list_contacts(session, resident_id=resident.id)
            band = (await session.execute(select(Band).where(Band.resident_id == resident.id))).scalar_one()
        assert 2 <= len(contacts) <= 3, who
        assert [c.priority for c in contacts] == list(range(1, len(contacts) + 1)), who
        assert any(c.has_key for c in contacts), who
        assert all(c.name and c.relation and c.phone.startswith("+48500000") for c in contacts), who
        assert len({c.phone for c in contacts} | {resident.phone}) == len(contacts) + 1, who
        if demo.home is None:
            assert band.last_location is None, who
        else:
            location = band.last_location
            assert location is not None, who
            assert _metres((location["lat"], location["lon"]), demo.home) < 50, who
            assert (location["source"], location["accuracy_m"] > 0, bool(location["at"])) == ("gps", True, True), who
    # Most demo bands have GPS, so the map has something to show on most cards.
    assert sum(d.home is not None for d in DEMO_RESIDENTS) >= len(DEMO_RESIDENTS) - 1


async def test_the_demo_seeds_complete_residents_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    key = Fernet(Fernet.generate_key())
    bands = await seed_demo(sessions, clock, logins_path=tmp_path / "logins.txt", data_key=key)
    await _assert_complete(sessions, key)
    assert [b.serial for b in bands] == [d.serial for d in DEMO_RESIDENTS]
    assert [b.home for b in bands] == [d.home for d in DEMO_RESIDENTS]

    await seed_demo(sessions, clock, logins_path=tmp_path / "logins.txt", data_key=key)  # the next start
    await _assert_complete(sessions, key)  # nothing doubled
    # A supervisor is on duty, once: with nobody at the console the demo's SOS pages them first.
    async with sessions() as session:
        municipality_id = (await _residents(sessions))[0].municipality_id
        [shift] = await duty.on_duty(session, duty.DutyRole.SUPERVISOR, clock.now(), municipality_id)
    assert shift.phone == "+48500000900"

    # The resident card shows it: data, relatives, the band's position for the map.
    residents = await _residents(sessions)
    supervisor = await create_staff(sessions, clock, role="supervisor", municipality_ids=[residents[0].municipality_id])
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, data_key=key), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, supervisor)
        card = (await http.get(f"/api/registry/residents/{residents[0].id}")).json()
    assert card["resident"]["phone"] == "+48500000101"
    assert card["resident"]["birth_date"] == "1941-03-14"
    assert (card["has_medical_notes"], card["has_key_safe_code"], len(card["contacts"])) == (True, True, 3)
    [where] = card["whereabouts"]
    assert where["serial"] == "DEMO-001"
    # Every demo band has a SIM, so an operator can call it from an alarm.
    async with sessions() as session:
        sims = (await session.execute(select(Band.serial, Band.sim_phone).where(Band.serial.like("DEMO-%")))).all()
    assert dict(sims)["DEMO-001"] == "+48500200001"
    assert all(sim for _, sim in sims)
    assert where["last_location"]["lat"] == pytest.approx(51.1138, abs=1e-3)


async def test_an_older_demo_database_is_completed(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    # What the demo seeded before: a name, an address and one relative, a band without a position.
    async with sessions() as session, session.begin():
        municipality = await service.create_municipality(session, clock, code=DEMO_MUNICIPALITY, name="Gmina Demo")
        first = DEMO_RESIDENTS[0]
        resident = await service.create_resident(
            session,
            clock,
            municipality_id=municipality.id,
            first_name=first.first_name,
            last_name=first.last_name,
            address="ul. Legnicka 12/4, Wrocław",
        )
        await service.add_contact(
            session, clock, resident_id=resident.id, name=first.contacts[0].name, phone="601 234 567", priority=1
        )
        await service.register_band(session, clock, serial="DEMO-001", model="demo", resident_id=resident.id)

    key = Fernet(Fernet.generate_key())
    await seed_demo(sessions, clock, logins_path=tmp_path / "logins.txt", data_key=key)
    [helena, *_] = await _residents(sessions)
    async with sessions() as session:
        contacts = await list_contacts(session, resident_id=helena.id)
    # What was there is kept (the old relative's number), what was missing is added.
    assert [c.name for c in contacts] == [c.name for c in first.contacts]
    assert contacts[0].phone == "+48601234567"
    assert helena.address == "ul. Legnicka 12/4, Wrocław"
    assert (helena.phone, helena.birth_date) == ("+48500000101", first.birth_date)
    assert helena.medical_notes == first.medical_notes
    assert helena.key_safe_code_encrypted is not None
    assert len(await _residents(sessions)) == len(DEMO_RESIDENTS)
