"""Registry services: IMEI, duplicates, binding, swap with history, decommission, credentials,
contacts in order, residents; every refusal is a specific error naming its field."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import Alarm, AlarmKind
from core.clock import FakeClock
from gateway.broker.credential_store import CredentialStore, band_secret_hashes
from registry import bands, contacts, municipalities, residents
from registry.credentials import verify_band_secret
from registry.errors import Conflict, Duplicate, NotFound, RegistryError
from registry.identifiers import normalise_imei
from registry.model import Band, BandEventType, BandStatus
from registry.traffic.messages import BandMessage

pytestmark = pytest.mark.asyncio

GOOD_IMEI = "490154203237518"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("49015420323751", "15 cyfr"),
        ("4901542032375189", "15 cyfr"),
        ("490154203237519", "cyfra kontrolna IMEI (ostatnia cyfra powinna być 8"),
        ("49015420323751X", "tylko cyfry"),
    ],
)
async def test_bad_imei_is_refused_with_its_reason(raw: str, says: str) -> None:
    with pytest.raises(RegistryError) as refused:
        normalise_imei(raw)
    assert refused.value.field == "imei"
    assert says in refused.value.message


async def test_imei_as_printed_on_a_label() -> None:
    assert normalise_imei("49-015420-323751-8") == GOOD_IMEI
    assert normalise_imei(" 490154 203237518 ") == GOOD_IMEI


async def _resident(session: AsyncSession, clock: FakeClock, name: str = "Helena") -> int:
    municipality = await municipalities.create_municipality(
        session, clock, code=f"m-{uuid.uuid4().hex[:6]}", name="Gmina Testowa"
    )
    resident = await residents.create_resident(
        session, clock, municipality_id=municipality.id, first_name=name, last_name="Kowalska"
    )
    return resident.id


async def test_register_by_imei_or_serial_and_duplicates_refused(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        by_imei = await bands.register_band(session, clock, imei=GOOD_IMEI, model="X1", sim_phone="601 234 567")
        assert (by_imei.band.serial, by_imei.band.imei) == (GOOD_IMEI, GOOD_IMEI)
        assert by_imei.band.sim_phone == "+48601234567"
        assert by_imei.band.status == BandStatus.STOCK
        by_serial = await bands.register_band(session, clock, serial="OP-0001", firmware="1.2.3")
        assert by_serial.band.imei is None

        with pytest.raises(Duplicate) as twice:
            await bands.register_band(session, clock, serial="OP-0001")
        assert twice.value.field == "serial"
        with pytest.raises(Duplicate) as same_imei:
            await bands.register_band(session, clock, serial="OP-0002", imei=GOOD_IMEI)
        assert same_imei.value.field == "imei"
        with pytest.raises(RegistryError) as bad_imei:
            await bands.register_band(session, clock, serial="OP-0003", imei="490154203237519")
        assert bad_imei.value.field == "imei"
        with pytest.raises(RegistryError) as bad_sim:
            await bands.register_band(session, clock, serial="OP-0004", sim_phone="12")
        assert bad_sim.value.field == "sim_phone"
        with pytest.raises(RegistryError) as nothing:
            await bands.register_band(session, clock)
        assert nothing.value.field == "serial"
        found = await bands.find_band(session, serial_or_imei=GOOD_IMEI)
        assert found.id == by_imei.band.id
        with pytest.raises(NotFound):
            await bands.find_band(session, serial_or_imei="NOPE")


async def test_bind_refuses_a_band_bound_elsewhere(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        helena = await _resident(session, clock, "Helena")
        jan = await _resident(session, clock, "Jan")
        band = (await bands.register_band(session, clock, serial="OP-BIND")).band
        await bands.bind_band(session, clock, band_id=band.id, resident_id=helena)
        assert (band.status, band.resident_id) == (BandStatus.ACTIVE, helena)
        with pytest.raises(Conflict) as elsewhere:
            await bands.bind_band(session, clock, band_id=band.id, resident_id=jan)
        assert elsewhere.value.field == "band_id"
        assert f"id {helena}" in elsewhere.value.message
        await bands.unbind_band(session, clock, band_id=band.id)
        await bands.bind_band(session, clock, band_id=band.id, resident_id=jan)
        history = [event.type for event in await bands.band_history(session, band_id=band.id)]
    assert history == ["registered", "credentials_issued", "bound", "unbound", "bound"]


async def test_swap_retires_the_old_band_and_keeps_history_on_both(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        resident_id = await _resident(session, clock)
        old = (await bands.register_band(session, clock, serial="OP-OLD", resident_id=resident_id)).band
        new = (await bands.register_band(session, clock, serial="OP-NEW")).band
        message = BandMessage(
            band_id=old.id, message_id="m1", kind="sos", received_at=clock.now(), payload={}, band_time=None
        )
        session.add(message)
        await session.flush()
        alarm = await raise_or_merge(
            session,
            band=old,
            resident_municipality_id=None,
            kind=AlarmKind.SOS,
            band_message_id=message.id,
            received_at=clock.now(),
        )
        swap = await bands.swap_band(session, clock, old_band_id=old.id, new_band_id=new.id, note="pęknięty pasek")
        assert (swap.old.status, swap.old.resident_id, swap.old.secret_hash) == (BandStatus.RETIRED, None, None)
        assert (swap.new.status, swap.new.resident_id) == (BandStatus.ACTIVE, resident_id)
        stored = (await session.execute(select(Alarm).where(Alarm.id == alarm.alarm_id))).scalar_one()
        assert (stored.band_id, stored.resident_id) == (old.id, resident_id)
        old_history = await bands.band_history(session, band_id=old.id)
        new_history = await bands.band_history(session, band_id=new.id)
        assert old_history[-1].type == BandEventType.SWAPPED_OUT
        assert (old_history[-1].other_band_id, old_history[-1].resident_id) == (new.id, resident_id)
        assert old_history[-1].note == "pęknięty pasek"
        assert new_history[-1].type == BandEventType.SWAPPED_IN
        assert new_history[-1].other_band_id == old.id
        worn = [event.band_id for event in await bands.resident_band_history(session, resident_id=resident_id)]
        assert worn == [old.id, old.id, new.id]
        hashes = await band_secret_hashes(session)
        assert "OP-OLD" not in hashes
        assert "OP-NEW" in hashes

        with pytest.raises(Conflict):  # retired for good
            await bands.bind_band(session, clock, band_id=old.id, resident_id=resident_id)
        spare = (await bands.register_band(session, clock, serial="OP-SPARE")).band
        with pytest.raises(Conflict) as unbound:
            await bands.swap_band(session, clock, old_band_id=spare.id, new_band_id=old.id)
        assert unbound.value.field == "old_band_id"


async def test_decommission_revokes_and_keeps_history(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        resident_id = await _resident(session, clock)
        band = (await bands.register_band(session, clock, serial="OP-GONE", resident_id=resident_id)).band
        await bands.decommission_band(session, clock, band_id=band.id, note="zgubiona")
        assert (band.status, band.resident_id, band.secret_hash) == (BandStatus.RETIRED, None, None)
        last = (await bands.band_history(session, band_id=band.id))[-1]
        assert (last.type, last.resident_id, last.note) == ("decommissioned", resident_id, "zgubiona")
        with pytest.raises(Conflict):
            await bands.decommission_band(session, clock, band_id=band.id)
        with pytest.raises(Conflict):
            await bands.reissue_credentials(session, clock, band_id=band.id)


async def test_reissue_replaces_and_revoke_withdraws_credentials(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        first = await bands.register_band(session, clock, serial="OP-CRED")
        second = await bands.reissue_credentials(session, clock, band_id=first.band.id)
        band = second.band
        assert band.secret_hash is not None
        assert second.secret != first.secret
        assert verify_band_secret(second.secret, band.secret_hash)
        assert not verify_band_secret(first.secret, band.secret_hash)
        revoked = await bands.revoke_credentials(session, clock, band_id=band.id)
        assert (revoked.secret_hash, revoked.credentials_revoked_at) == (None, clock.now())
        assert "OP-CRED" not in await band_secret_hashes(session)
        third = await bands.reissue_credentials(session, clock, band_id=band.id)
        assert band.credentials_revoked_at is None
        assert (await band_secret_hashes(session))["OP-CRED"] == third.band.secret_hash
        types = [event.type for event in await bands.band_history(session, band_id=band.id)]
    assert types == [
        "registered",
        "credentials_issued",
        "credentials_issued",
        "credentials_revoked",
        "credentials_issued",
    ]


async def test_contacts_in_order_validated_and_reordered(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        resident_id = await _resident(session, clock)
        anna = await contacts.add_contact(session, clock, resident_id=resident_id, name="Anna", phone="601 234 567")
        piotr = await contacts.add_contact(
            session, clock, resident_id=resident_id, name="Piotr", phone="+48 602 345 678", has_key=True
        )
        ewa = await contacts.add_contact(
            session, clock, resident_id=resident_id, name="Ewa", phone="603456789", priority=1, language="en"
        )
        assert [(c.name, c.priority) for c in await contacts.list_contacts(session, resident_id=resident_id)] == [
            ("Ewa", 1),
            ("Anna", 2),
            ("Piotr", 3),
        ]
        assert (anna.phone, piotr.has_key, ewa.language) == ("+48601234567", True, "en")
        with pytest.raises(RegistryError) as bad_phone:
            await contacts.add_contact(session, clock, resident_id=resident_id, name="X", phone="123")
        assert bad_phone.value.field == "phone"
        with pytest.raises(RegistryError) as bad_language:
            await contacts.add_contact(
                session, clock, resident_id=resident_id, name="X", phone="601234567", language="xx"
            )
        assert bad_language.value.field == "language"
        with pytest.raises(RegistryError) as bad_priority:
            await contacts.add_contact(session, clock, resident_id=resident_id, name="X", phone="601234567", priority=9)
        assert bad_priority.value.field == "priority"

        await contacts.reorder_contacts(session, resident_id=resident_id, contact_ids=[piotr.id, anna.id, ewa.id])
        with pytest.raises(RegistryError):
            await contacts.reorder_contacts(session, resident_id=resident_id, contact_ids=[piotr.id, anna.id])
        await contacts.update_contact(session, contact_id=anna.id, phone="604 567 890", relation="córka")
        assert (anna.phone, anna.relation) == ("+48604567890", "córka")
        await contacts.remove_contact(session, contact_id=piotr.id)
        assert [(c.name, c.priority) for c in await contacts.list_contacts(session, resident_id=resident_id)] == [
            ("Anna", 1),
            ("Ewa", 2),
        ]


async def test_resident_update_and_deactivate(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessions() as session, session.begin():
        resident_id = await _resident(session, clock)
        band = (await bands.register_band(session, clock, serial="OP-RES", resident_id=resident_id)).band
        resident = await residents.update_resident(
            session, clock, resident_id=resident_id, address="ul. Nowa 1", phone="71 123 45 67"
        )
        assert (resident.address, resident.phone) == ("ul. Nowa 1", "+48711234567")
        with pytest.raises(RegistryError) as unknown:
            await residents.update_resident(session, clock, resident_id=resident_id, municipality_id=5)
        assert unknown.value.field == "municipality_id"
        with pytest.raises(RegistryError) as empty:
            await residents.update_resident(session, clock, resident_id=resident_id, last_name=" ")
        assert empty.value.field == "last_name"
        await residents.deactivate_resident(session, clock, resident_id=resident_id)
        assert not resident.active
        refreshed = await session.get(Band, band.id)
        assert refreshed is not None
        assert (refreshed.status, refreshed.resident_id) == (BandStatus.STOCK, None)
        assert await residents.list_residents(session) == []
        with pytest.raises(Conflict):
            await bands.bind_band(session, clock, band_id=band.id, resident_id=resident_id)
        with pytest.raises(NotFound):
            await residents.get_resident(session, resident_id=999_999)


async def test_the_credential_store_learns_of_a_revocation(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        registered = await bands.register_band(session, clock, serial="OP-STORE")
    store = CredentialStore(sessions, service_username="svc", service_password="pw", refresh_every_s=0)
    withdrawn: list[set[str]] = []
    store.on_withdrawn(withdrawn.append)
    await store.refresh()
    assert await store.band_still_admitted("OP-STORE")
    assert await store.authenticate("OP-STORE", registered.secret) is not None
    async with sessions() as session, session.begin():
        await bands.revoke_credentials(session, clock, band_id=registered.band.id)
    await store.refresh()
    assert withdrawn == [{"OP-STORE"}]
    assert not await store.band_still_admitted("OP-STORE")
    assert await store.authenticate("OP-STORE", registered.secret) is None


async def test_a_registration_race_is_a_duplicate_and_the_transaction_goes_on(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sessions() as session, session.begin():
        await bands.register_band(session, clock, serial="OP-RACE")

    async def nothing_seen(*_args: object, **_kwargs: object) -> None:
        """As if the other registration committed just after our check."""

    monkeypatch.setattr(bands, "_check_new_identity", nothing_seen)
    async with sessions() as session, session.begin():
        with pytest.raises(Duplicate) as lost:
            await bands.register_band(session, clock, serial="OP-RACE")
        assert lost.value.field == "serial"
        await bands.register_band(session, clock, serial="OP-AFTER")
    async with sessions() as session:
        serials = set((await session.execute(select(Band.serial))).scalars())
    assert serials == {"OP-RACE", "OP-AFTER"}
