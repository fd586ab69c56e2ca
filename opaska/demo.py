"""Demo data and demo bands for `opaska run --demo`: a municipality, residents, contacts, bands."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.mqtt.client import MqttError
from core.mqtt.endpoint import MqttEndpoint
from core.settings import Settings
from gateway.topics import TopicScheme
from opaska.demo_residents import DEMO_RESIDENTS, ensure_demo_residents
from registry import duty, service, staff
from registry.credentials import hash_band_secret, new_band_secret
from registry.model import Band, Municipality
from registry.staff_passwords import hash_password
from simulator.band import RepeatPolicy, VirtualBand

log = logging.getLogger(__name__)

DEMO_MUNICIPALITY = "demo-0264011"


@dataclass(frozen=True)
class DemoBand:
    serial: str
    secret: str
    # Where the simulated band says it is (its resident's home); None: a band without GPS.
    home: tuple[float, float] | None = None


# Demo bands' secrets, so `opaska simulate --band DEMO-001` can log in as one. Demo bands only:
# a real band's secret is shown once to the technician and stored nowhere but as a hash.
DEMO_CREDENTIALS = Path("var") / "demo-bands.txt"


def save_demo_credentials(bands: list[DemoBand], path: Path = DEMO_CREDENTIALS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{band.serial}:{band.secret}\n" for band in bands))


def demo_secret(serial: str, path: Path = DEMO_CREDENTIALS) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, secret = line.partition(":")
        if name == serial and secret:
            return secret
    return None


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    logins_path: Path | None = None,
    data_key: Fernet | None = None,
) -> list[DemoBand]:
    """Create the demo data once (and complete an older demo's residents); on every start issue
    the demo bands fresh secrets. Key-safe codes are stored only with the console's `data_key`."""
    bands: list[DemoBand] = []
    homes = {demo.serial: demo.home for demo in DEMO_RESIDENTS}
    async with sessions() as session, session.begin():
        municipality = (
            await session.execute(select(Municipality).where(Municipality.code == DEMO_MUNICIPALITY))
        ).scalar_one_or_none()
        if municipality is None:
            municipality = await service.create_municipality(session, clock, code=DEMO_MUNICIPALITY, name="Gmina Demo")
        await ensure_demo_residents(session, clock, municipality_id=municipality.id, data_key=data_key)
        await _ensure_supervisor_on_duty(session, clock, municipality_id=municipality.id)
        for band in (
            await session.execute(select(Band).where(Band.serial.like("DEMO-%")).order_by(Band.serial))
        ).scalars():
            secret = new_band_secret()
            band.secret_hash = hash_band_secret(secret)
            bands.append(DemoBand(band.serial, secret, homes.get(band.serial)))
    log.info("demo data ready: %d residents with bands in 'Gmina Demo'", len(bands))
    await seed_demo_logins(sessions, clock, logins_path or DEMO_LOGINS)
    return bands


# The demo's supervisor on duty: with nobody at the console the life policy texts and calls them
# first ("centrum bez operatora"); in the demo's test mode nothing is sent, the timeline shows it.
DEMO_DUTY_PHONE = "+48500000900"
DEMO_DUTY_DAYS = 30


async def _ensure_supervisor_on_duty(session: AsyncSession, clock: Clock, *, municipality_id: int) -> None:
    now = clock.now()
    if await duty.on_duty(session, duty.DutyRole.SUPERVISOR, now, municipality_id):
        return
    await duty.add_shift(
        session,
        role=duty.DutyRole.SUPERVISOR,
        name="Ewa Kierowniczka",
        phone=DEMO_DUTY_PHONE,
        starts_at=now,
        ends_at=now + timedelta(days=DEMO_DUTY_DAYS),
        created_at=now,
        municipality_id=municipality_id,
    )


# (username, role, full name): one of each role, and a second operator to see a lost claim race.
DEMO_STAFF = [
    ("operator", "operator", "Ola Operatorka"),
    ("operator2", "operator", "Jan Dyżurny"),
    ("supervisor", "supervisor", "Ewa Kierowniczka"),
    ("technician", "technician", "Marek Technik"),
    ("admin", "administrator", "Adam Administrator"),
]
# Demo logins only: every start gives them fresh passwords, printed once and kept here (0600).
DEMO_LOGINS = Path("var") / "demo-logins.txt"


def _save_demo_logins(logins: list[tuple[str, str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{username} {password} ({role})\n" for username, role, password in logins))


async def seed_demo_logins(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, path: Path = DEMO_LOGINS
) -> list[tuple[str, str, str]]:
    """Create the demo staff once; at every start give them fresh passwords and print them."""
    logins = [(username, role, f"demo-{secrets.token_urlsafe(8)}") for username, role, _ in DEMO_STAFF]
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, password) for _, _, password in logins))
    names = {username: name for username, _, name in DEMO_STAFF}
    async with sessions() as session, session.begin():
        municipality_id = (
            await session.execute(select(Municipality.id).where(Municipality.code == DEMO_MUNICIPALITY))
        ).scalar_one()
        for (username, role, _), password_hash in zip(logins, hashes, strict=True):
            member = await staff.find_by_username(session, username)
            if member is None:
                await staff.create_staff(
                    session,
                    clock,
                    username=username,
                    full_name=names[username],
                    role=role,
                    password_hash=password_hash,
                    municipality_ids=[] if role == "administrator" else [municipality_id],
                )
            else:
                await staff.set_password_hash(session, staff_id=member.id, password_hash=password_hash)
                await staff.remove_sessions(session, staff_id=member.id)
    _save_demo_logins(logins, path)
    # Printed, not logged: the demo's passwords belong on the terminal that started it, not in a log.
    lines = [f"  {username:<11} {password:<20} {role}" for username, role, password in logins]
    print(
        "\n".join(
            [
                "",
                "=" * 60,
                "  opaska demo logins (new at every start; also in " + str(path) + ")",
                "  console: log in at the console's address with one of these",
                "-" * 60,
                *lines,
                "=" * 60,
                "",
            ]
        ),
        flush=True,
    )
    return logins


async def run_demo_bands(
    settings: Settings, endpoint: MqttEndpoint, bands: list[DemoBand], *, sos_every_s: float = 120.0, seed: int = 1
) -> None:
    """Heartbeats every 30 s from every demo band, and now and then an SOS or a fall."""
    rng = random.Random(seed)  # noqa: S311 - demo choices, not secrets
    topics = TopicScheme(settings.mqtt.topic_root)
    virtual = [
        VirtualBand(
            endpoint,
            topics,
            b.serial,
            password=b.secret,
            protocol=settings.mqtt.effective_protocol,
            repeat=RepeatPolicy(5, 60),
        )
        for b in bands
    ]
    for band, demo in zip(virtual, bands, strict=True):
        if demo.home is not None:
            band.state.lat, band.state.lon = demo.home
    try:
        for band in virtual:
            await band.start()
        # A GPS band reports where it is on connecting, as a real one does: the map shows it now.
        for band, demo in zip(virtual, bands, strict=True):
            if demo.home is not None:
                await band.report_location("periodic")
    except MqttError as exc:
        log.error("demo bands cannot connect: %s", exc)
        raise
    log.info(
        "demo: %d simulated bands connected; heartbeats every 30 s, an alarm every %.0f s", len(virtual), sos_every_s
    )
    pending: set[asyncio.Task[object]] = set()
    try:
        await _demo_day(virtual, rng, pending, sos_every_s)
    finally:
        for task in pending:
            task.cancel()
        for band in virtual:
            await band.stop()


async def _demo_day(
    virtual: list[VirtualBand], rng: random.Random, pending: set[asyncio.Task[object]], sos_every_s: float
) -> None:
    ticks = 0
    while True:
        for band in virtual:
            band.state.battery = max(5, band.state.battery - rng.choice((0, 0, 1)))
            await band.heartbeat()
        ticks += 1
        if ticks * 30 >= sos_every_s:
            ticks = 0
            band = rng.choice(virtual)
            kind = rng.choice(("sos", "sos", "fall"))
            log.info("demo: band %s raises %s", band.serial, kind)
            task: asyncio.Task[object] = asyncio.create_task(band.press(kind, timeout=600))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(30)
