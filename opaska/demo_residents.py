"""The demo municipality's residents, complete as a real card is: phone, birth date, medical
notes, key-safe code, how to get in, two or three relatives (one with a key), and a band; bands
with GPS have a last position near the resident's home, so the console's map shows something.

Every person here is made up. Phone numbers are from the 500 000 xxx block, a pattern nobody
takes for a real number; the demo sends nothing anyway ([notify] mode "outbox").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from console.key_safe import encrypt_key_safe_code
from core.clock import Clock
from registry import service
from registry.contacts import list_contacts
from registry.model import Band, Resident

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoContact:
    name: str
    relation: str
    phone: str
    has_key: bool = False


@dataclass(frozen=True)
class DemoResident:
    first_name: str
    last_name: str
    birth_date: date
    phone: str
    address: str
    access_notes: str
    medical_notes: str
    key_safe_code: str
    contacts: tuple[DemoContact, ...]
    # Where the home is (WGS84); None: the resident's band has no GPS.
    home: tuple[float, float] | None

    @property
    def sex(self) -> str:
        # Demo people only: their Polish first names end in -a exactly when they are women.
        return "F" if self.first_name.endswith("a") else "M"

    @property
    def serial(self) -> str:
        return f"DEMO-{DEMO_RESIDENTS.index(self) + 1:03d}"


DEMO_RESIDENTS: tuple[DemoResident, ...] = (
    DemoResident(
        "Helena",
        "Kowalska",
        date(1941, 3, 14),
        "+48 500 000 101",
        "ul. Legnicka 12/4, 53-673 Wrocław",
        "Klucz u sąsiadki spod 5 (p. Zielińska). Domofon 4, trzecie piętro bez windy.",
        "Cukrzyca typu 2, insulina rano i wieczorem. Uczulenie na penicylinę. Nadciśnienie.",
        "4185",
        (
            DemoContact("Anna Kowalska", "córka", "+48 500 000 201", has_key=True),
            DemoContact("Tomasz Kowalski", "syn", "+48 500 000 202"),
            DemoContact("Barbara Zielińska", "sąsiadka", "+48 500 000 203", has_key=True),
        ),
        (51.11370, 17.01880),
    ),
    DemoResident(
        "Stanisław",
        "Nowak",
        date(1938, 11, 2),
        "+48 500 000 102",
        "ul. Kasprowicza 3, 51-137 Wrocław",
        "Domofon 17. Pies (spokojny) w mieszkaniu.",
        "Choroba Parkinsona, leki co 4 godziny. Chodzi o balkoniku. Zaburzenia równowagi.",
        "2709",
        (
            DemoContact("Piotr Nowak", "syn", "+48 500 000 204", has_key=True),
            DemoContact("Katarzyna Nowak", "synowa", "+48 500 000 205"),
        ),
        (51.13370, 17.05300),
    ),
    DemoResident(
        "Zofia",
        "Wiśniewska",
        date(1944, 6, 21),
        "+48 500 000 103",
        "pl. Grunwaldzki 8/2, 50-384 Wrocław",
        "Sejf na klucz przy drzwiach wejściowych, po lewej. Parter.",
        "Niewydolność serca, leki moczopędne. Po wymianie stawu biodrowego (2022).",
        "9630",
        (
            DemoContact("Ewa Wiśniewska", "wnuczka", "+48 500 000 206", has_key=True),
            DemoContact("Krzysztof Wiśniewski", "syn", "+48 500 000 207"),
        ),
        (51.11150, 17.06000),
    ),
    DemoResident(
        "Józef",
        "Wójcik",
        date(1936, 1, 30),
        "+48 500 000 104",
        "ul. Ślężna 40/12, 53-302 Wrocław",
        "Klucz ma syn i sąsiad z naprzeciwka. Domofon nie działa: dzwonić na telefon.",
        "Po udarze (2024), niedosłuch: mówić głośno i wolno. Rozrusznik serca. Leki przeciwzakrzepowe.",
        "1357",
        (
            DemoContact("Marek Wójcik", "syn", "+48 500 000 208", has_key=True),
            DemoContact("Jan Zieliński", "sąsiad", "+48 500 000 209", has_key=True),
            DemoContact("Agnieszka Wójcik", "córka", "+48 500 000 210"),
        ),
        (51.09300, 17.02100),
    ),
    DemoResident(
        "Irena",
        "Kamińska",
        date(1949, 9, 8),
        "+48 500 000 105",
        "ul. Świdnicka 5/1, 50-066 Wrocław",
        "Wejście od podwórza, drzwi z lewej. Klucz u córki.",
        "Astma (inhalator w kuchni). Początki otępienia: może nie pamiętać, że nacisnęła przycisk.",
        "8024",
        (
            DemoContact("Łucja Kamińska", "córka", "+48 500 000 211", has_key=True),
            DemoContact("Robert Kamiński", "zięć", "+48 500 000 212"),
        ),
        None,
    ),
)

# A GPS fix indoors: a few metres off the address, with the accuracy a band would claim.
GPS_ACCURACY_M = 18


async def ensure_demo_residents(
    session: AsyncSession, clock: Clock, *, municipality_id: int, data_key: Fernet | None
) -> None:
    """Create the demo residents, or fill in what an older demo database lacks. Does not commit.

    Only empty fields are filled and only missing contacts added: what someone changed in the
    demo since is kept.
    """
    for demo in DEMO_RESIDENTS:
        resident = await _resident(session, clock, municipality_id, demo)
        _fill(resident, demo, data_key)
        known = {c.name for c in await list_contacts(session, resident_id=resident.id)}
        for contact in demo.contacts:
            if contact.name not in known:
                await service.add_contact(
                    session,
                    clock,
                    resident_id=resident.id,
                    name=contact.name,
                    phone=contact.phone,
                    relation=contact.relation,
                    has_key=contact.has_key,
                )
        band = (await session.execute(select(Band).where(Band.serial == demo.serial))).scalar_one_or_none()
        if band is None:
            model = "demo GPS" if demo.home else "demo (bez GPS)"
            band = (
                await service.register_band(session, clock, serial=demo.serial, model=model, resident_id=resident.id)
            ).band
        if band.sim_phone is None:
            # Every demo band has a SIM (speaker and microphone): "Zadzwoń do opaski" works on any.
            band.sim_phone = demo_sim_phone(demo.serial)
        if demo.home is not None and band.last_location is None:
            # Slightly off the address, as an indoor fix is.
            lat, lon = demo.home
            band.last_location = {
                "lat": round(lat + 0.00012, 6),
                "lon": round(lon - 0.00009, 6),
                "accuracy_m": GPS_ACCURACY_M,
                "source": "gps",
                "at": clock.now().isoformat(),
            }
    await session.flush()


def demo_sim_phone(serial: str) -> str:
    """DEMO-003 -> +48500200003: the demo's fictional range, apart from residents' and relatives'."""
    return f"+48500200{int(serial.rsplit('-', 1)[-1]):03d}"


async def _resident(session: AsyncSession, clock: Clock, municipality_id: int, demo: DemoResident) -> Resident:
    found = (
        await session.execute(
            select(Resident).where(
                Resident.municipality_id == municipality_id,
                Resident.first_name == demo.first_name,
                Resident.last_name == demo.last_name,
            )
        )
    ).scalar_one_or_none()
    if found is not None:
        return found
    return await service.create_resident(
        session,
        clock,
        municipality_id=municipality_id,
        first_name=demo.first_name,
        last_name=demo.last_name,
        address=demo.address,
        birth_date=demo.birth_date,
        sex=demo.sex,
        phone=demo.phone,
        access_notes=demo.access_notes,
        medical_notes=demo.medical_notes,
    )


def _fill(resident: Resident, demo: DemoResident, data_key: Fernet | None) -> None:
    if resident.phone is None:
        resident.phone = demo.phone.replace(" ", "")
    if resident.birth_date is None:
        resident.birth_date = demo.birth_date
    if resident.sex is None:
        resident.sex = demo.sex
    if not resident.medical_notes.strip():
        resident.medical_notes = demo.medical_notes
    if not resident.access_notes.strip():
        resident.access_notes = demo.access_notes
    if resident.key_safe_code_encrypted is None:
        if data_key is None:
            log.info("demo: no console data key, so %s has no key-safe code", resident.first_name)
        else:
            resident.key_safe_code_encrypted = encrypt_key_safe_code(data_key, demo.key_safe_code)
