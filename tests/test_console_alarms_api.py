"""The alarm API behind the console: what each role may do, in which municipality, and how every
action and every opening of medical notes or a key-safe code lands in the alarm's timeline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
import websockets
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import AlarmEvent, AlarmKind
from alarm_center.escalation.policy import load_policies
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from console.app import create_app
from console.context import ConsoleContext
from console.key_safe import set_key_safe_code
from core.clock import FakeClock
from registry.model import Band, Resident
from registry.traffic.dead_letters import DeadLetterEntry, keep_dead_letters
from registry.traffic.messages import BandMessage
from simulator.lab.staff import Login, StaffMember, create_staff, log_in
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

POLICIES = """
[kinds]
sos = "quiet"
fall = "quiet"
band_offline = "quiet"
battery_low = "quiet"
not_worn = "quiet"
voice_call = "quiet"
no_checkin = "quiet"
left_zone = "quiet"
welfare_call = "quiet"
canary = "quiet"
canary_lost = "quiet"

[policies.quiet]
steps = [{ after_s = 0, channel = "console", targets = ["operators"] }]
"""
KEY_SAFE_CODE = "4711#"
MEDICAL = "Cukrzyca typu 2; insulina rano. Uczulenie na penicylinę."


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    home: SeededBand  # the staff's municipality
    away: SeededBand  # another municipality
    staff: dict[str, StaffMember]
    app: Any
    policies: Path
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def raise_alarm(self, seeded: SeededBand | None = None, kind: AlarmKind = AlarmKind.SOS) -> int:
        seeded = seeded or self.home
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            band = await session.get(Band, seeded.band_id)
            assert band is not None
            message = BandMessage(band_id=band.id, message_id=uuid.uuid4().hex, kind=kind, received_at=now, payload={})
            session.add(message)
            await session.flush()
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=seeded.municipality_id,
                kind=kind,
                band_message_id=message.id,
                received_at=now,
                policies=load_policies(self.policies),
            )
            return result.alarm_id

    async def as_(self, who: str) -> httpx.AsyncClient:
        """A client logged in as one of the staff (one per person, each with its own cookie)."""
        if who not in self.clients:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console")
            await log_in(client, self.staff[who])
            self.clients[who] = client
        return self.clients[who]

    async def events(self, alarm_id: int) -> list[AlarmEvent]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
            )
            return list(rows.scalars())


def _context(sessions: async_sessionmaker[AsyncSession], data_key: Fernet | None) -> ConsoleContext:
    return ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, data_key=data_key)


DATA_KEY = Fernet(Fernet.generate_key())


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path) -> AsyncIterator[Centre]:
    home = await seed_resident_with_band(sessions, clock)
    away = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Nowak")
    async with sessions() as session, session.begin():
        resident = await session.get(Resident, home.resident_id)
        assert resident is not None
        resident.medical_notes = MEDICAL
        await set_key_safe_code(session, DATA_KEY, resident_id=home.resident_id, code=KEY_SAFE_CODE)
    mine = [home.municipality_id]
    staff = {
        "operator": await create_staff(
            sessions, clock, role="operator", municipality_ids=mine, full_name="Ola Nowicka"
        ),
        "operator2": await create_staff(sessions, clock, role="operator", municipality_ids=mine, full_name="Jan Kos"),
        "supervisor": await create_staff(sessions, clock, role="supervisor", municipality_ids=mine),
        "technician": await create_staff(sessions, clock, role="technician", municipality_ids=mine),
        "administrator": await create_staff(sessions, clock, role="administrator"),
        "stranger": await create_staff(sessions, clock, role="operator", municipality_ids=[away.municipality_id]),
    }
    policies = tmp_path / "escalation.toml"
    policies.write_text(POLICIES)
    app = create_app(_context(sessions, DATA_KEY), clock=clock)
    centre = Centre(sessions, clock, home, away, staff, app, policies)
    try:
        yield centre
    finally:
        for client in centre.clients.values():
            await client.aclose()


# ---- reading -----------------------------------------------------------------------------------------


async def test_the_alarm_view_has_the_resident_band_contacts_and_timeline(centre: Centre) -> None:
    async with centre.sessions() as session, session.begin():
        band = await session.get(Band, centre.home.band_id)
        assert band is not None
        band.battery_pct, band.worn, band.online, band.last_seen_at = 64, True, True, centre.clock.now()
        band.last_location = {"lat": 51.1079, "lon": 17.0385, "accuracy_m": 12, "source": "gps", "at": "x"}
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{alarm}/claim")).status_code == 200
    [contact] = (await operator.get(f"/api/alarms/{alarm}")).json()["contacts"]
    assert (
        await operator.post(f"/api/alarms/{alarm}/notify", json={"contact_id": contact["id"], "channel": "sms"})
    ).status_code == 201

    response = await operator.get(f"/api/alarms/{alarm}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["alarm"]["status"] == "claimed"
    assert detail["claimed_by_name"] == "Ola Nowicka"
    resident = detail["resident"]
    assert (resident["first_name"], resident["address"]) == ("Helena", "ul. Legnicka 12/4, Wrocław")
    assert resident["has_medical_notes"] is True
    assert resident["has_key_safe_code"] is True
    assert "medical_notes" not in resident
    assert MEDICAL not in response.text
    assert KEY_SAFE_CODE not in response.text
    band_view = detail["band"]
    assert (band_view["battery_pct"], band_view["worn"], band_view["online"]) == (64, True, True)
    assert band_view["last_location"]["map_url"].startswith(
        "https://www.openstreetmap.org/?mlat=51.107900&mlon=17.038500"
    )
    [contact] = detail["contacts"]
    assert contact["name"] == "Anna Kowalska"
    [sent] = contact["notifications"]
    assert (sent["channel"], sent["status"], sent["to_phone"]) == ("sms", "pending", "+48601234567")
    assert [(e["type"], e["actor_name"]) for e in detail["timeline"]] == [
        ("raised", None),
        ("claimed", "Ola Nowicka"),
        ("escalated", "Ola Nowicka"),
    ]
    assert "resident_ok_after_call" in detail["outcomes"]
    assert "band_charged" not in detail["outcomes"]


async def test_the_queue_holds_only_the_users_municipalities(centre: Centre) -> None:
    mine = await centre.raise_alarm()
    theirs = await centre.raise_alarm(centre.away)
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{mine}/claim")).status_code == 200
    [row] = (await operator.get("/api/alarms")).json()
    assert (row["id"], row["claimed_by_name"], row["municipality_id"]) == (
        mine,
        "Ola Nowicka",
        centre.home.municipality_id,
    )
    assert [a["id"] for a in (await (await centre.as_("stranger")).get("/api/alarms")).json()] == [theirs]
    assert {a["id"] for a in (await (await centre.as_("administrator")).get("/api/alarms")).json()} == {mine, theirs}


# ---- roles × actions -------------------------------------------------------------------------------------


ACTIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "view": ("GET", "", None),
    "claim": ("POST", "/claim", None),
    "note": ("POST", "/notes", {"note": "Dzwonię do pani Heleny."}),
    "escalate": ("POST", "/escalate", {"note": "Brak kontaktu."}),
    "call": ("POST", "/resident-calls", {"outcome": "no_answer"}),
    "notify": ("POST", "/notify", {"channel": "sms"}),
    "medical": ("GET", "/medical", None),
    "key-safe": ("GET", "/key-safe", None),
    "resolve": ("POST", "/resolve", {"outcome": "resident_ok_after_call", "note": "Wszystko w porządku."}),
}
HANDLERS = ("operator", "supervisor", "administrator")


async def _act(centre: Centre, who: str, action: str, alarm: int) -> httpx.Response:
    method, suffix, body = ACTIONS[action]
    client = await centre.as_(who)
    if action == "notify":
        async with centre.sessions() as session:
            resident_id = (await session.execute(text(f"SELECT resident_id FROM alarm WHERE id = {alarm}"))).scalar()
            contact_id = (
                await session.execute(text(f"SELECT id FROM contact WHERE resident_id = {resident_id}"))
            ).scalar()
        body = {**(body or {}), "contact_id": contact_id}
    if action == "resolve":
        # A life alarm is resolved by whoever has it: the claim comes first.
        await client.post(f"/api/alarms/{alarm}/claim")
    return await client.request(method, f"/api/alarms/{alarm}{suffix}", json=body)


@pytest.mark.parametrize("who", ["operator", "supervisor", "technician", "administrator"])
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_role_matrix(centre: Centre, who: str, action: str) -> None:
    alarm = await centre.raise_alarm()
    response = await _act(centre, who, action, alarm)
    allowed = who in HANDLERS or action == "view"
    if allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403, response.text
        assert "technician may not do this" in response.json()["detail"]
        # Nothing done: the timeline holds only the alarm's raising.
        assert [e.type for e in await centre.events(alarm)] == ["raised"]


@pytest.mark.parametrize("action", [action for action in ACTIONS if action != "notify"])
async def test_an_alarm_of_another_municipality_is_403(centre: Centre, action: str) -> None:
    alarm = await centre.raise_alarm(centre.away)
    response = await _act(centre, "operator", action, alarm)
    assert response.status_code == 403, response.text
    assert "not assigned to" in response.json()["detail"]
    assert [e.type for e in await centre.events(alarm)] == ["raised"]


async def test_notify_on_another_municipalitys_alarm_is_403(centre: Centre) -> None:
    alarm = await centre.raise_alarm(centre.away)
    client = await centre.as_("operator")
    response = await client.post(f"/api/alarms/{alarm}/notify", json={"contact_id": 1, "channel": "sms"})
    assert response.status_code == 403
    async with centre.sessions() as session:
        assert (await session.execute(select(Notification))).first() is None


async def test_unknown_alarm_is_404_and_bad_ids_are_422(centre: Centre) -> None:
    client = await centre.as_("administrator")
    assert (await client.get("/api/alarms/999999")).status_code == 404
    assert (await client.post("/api/alarms/999999/claim")).status_code == 404
    for bad in ("abc", "0", "-1", "99999999999999999999999", "1.5"):
        assert (await client.get(f"/api/alarms/{bad}")).status_code == 422, bad
        assert (await client.post(f"/api/alarms/{bad}/claim")).status_code == 422, bad


# ---- claim, resolve ---------------------------------------------------------------------------------------


async def test_two_operators_claim_at_once_and_the_second_is_told_who_has_it(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    first, second = await centre.as_("operator"), await centre.as_("operator2")
    answers = await asyncio.gather(first.post(f"/api/alarms/{alarm}/claim"), second.post(f"/api/alarms/{alarm}/claim"))
    codes = sorted(response.status_code for response in answers)
    assert codes == [200, 409], [r.text for r in answers]
    winner = "Ola Nowicka" if answers[0].status_code == 200 else "Jan Kos"
    [lost] = [response for response in answers if response.status_code == 409]
    assert lost.json()["detail"] == f"alarm {alarm} is already claimed by {winner}; it cannot be claimed again"
    assert [e.type for e in await centre.events(alarm)] == ["raised", "claimed"]


async def test_resolving_needs_a_valid_outcome(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    client = await centre.as_("operator")
    await client.post(f"/api/alarms/{alarm}/claim")

    async def resolve(**body: object) -> httpx.Response:
        return await client.post(f"/api/alarms/{alarm}/resolve", json=body)

    missing = await resolve(note="Pani Helena czuje się dobrze.")
    assert missing.status_code == 422
    [error] = missing.json()["detail"]
    assert error["loc"] == ["body", "outcome"]
    assert "needs an outcome code" in error["msg"]
    assert "resident_ok_after_call" in error["msg"]
    wrong = await resolve(outcome="band_charged", note="x")
    assert wrong.status_code == 422
    assert "'band_charged' is not an outcome for a sos alarm" in wrong.json()["detail"][0]["msg"]
    no_note = await resolve(outcome="resident_ok_after_call")
    assert no_note.json()["detail"][0]["loc"] == ["body", "note"]
    for garbage in ({"outcome": 5}, {"outcome": "x" * 65}, {"note": ["a"]}, {"extra": True}):
        assert (await resolve(**garbage)).status_code == 422, garbage
    assert [e.type for e in await centre.events(alarm)] == ["raised", "claimed"]

    done = await resolve(outcome="resident_ok_after_call", note="Pani Helena czuje się dobrze.")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved"
    again = await resolve(outcome="resident_ok_after_call", note="Jeszcze raz.")
    assert again.status_code == 409
    assert "already resolved" in again.json()["detail"]


async def test_a_life_alarm_is_claimed_before_it_is_resolved(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    response = await (await centre.as_("operator")).post(
        f"/api/alarms/{alarm}/resolve", json={"outcome": "false_alarm", "note": "Przypadkowe naciśnięcie."}
    )
    assert response.status_code == 409
    assert "claim it first" in response.json()["detail"]


async def test_each_action_is_an_audited_event(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    for action in ("claim", "note", "call", "escalate"):
        assert (await _act(centre, "operator", action, alarm)).status_code in (200, 201)
    assert (await operator.post(f"/api/alarms/{alarm}/release")).status_code == 200
    supervisor = await centre.as_("supervisor")
    assert (await supervisor.post(f"/api/alarms/{alarm}/claim")).status_code == 200
    events = await centre.events(alarm)
    operator_id, supervisor_id = centre.staff["operator"].id, centre.staff["supervisor"].id
    assert [(e.type, e.actor_type, e.actor_id) for e in events] == [
        ("raised", "band", centre.home.band_id),
        ("claimed", "staff", operator_id),
        ("note", "staff", operator_id),
        ("note", "staff", operator_id),
        ("escalated", "staff", operator_id),
        ("released", "staff", operator_id),
        ("claimed", "staff", supervisor_id),
    ]
    assert events[2].detail == {"note": "Dzwonię do pani Heleny."}
    assert events[3].detail["call_outcome"] == "no_answer"
    assert events[3].detail["action"] == "resident_call"
    assert events[4].detail["targets"] == ["supervisor"]
    empty = await operator.post(f"/api/alarms/{alarm}/notes", json={"note": ""})
    assert empty.status_code == 422


# ---- medical notes, key-safe codes ----------------------------------------------------------------------


async def test_opening_the_medical_notes_is_audited(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    response = await (await centre.as_("operator")).get(f"/api/alarms/{alarm}/medical")
    assert response.status_code == 200
    assert response.json()["medical_notes"] == MEDICAL
    assert response.headers["cache-control"] == "no-store"
    opened = (await centre.events(alarm))[-1]
    assert (opened.id, opened.type, opened.actor_type, opened.actor_id, opened.at) == (
        response.json()["event_id"],
        "medical_notes_opened",
        "staff",
        centre.staff["operator"].id,
        centre.clock.now(),
    )
    assert MEDICAL not in json.dumps(opened.detail)
    # Shown in the timeline with the person's name.
    timeline = (await (await centre.as_("supervisor")).get(f"/api/alarms/{alarm}")).json()["timeline"]
    assert (timeline[-1]["type"], timeline[-1]["actor_name"]) == ("medical_notes_opened", "Ola Nowicka")


async def test_medical_notes_of_a_closed_alarm_are_still_readable_and_audited(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    assert (await _act(centre, "operator", "resolve", alarm)).status_code == 200
    response = await (await centre.as_("operator")).get(f"/api/alarms/{alarm}/medical")
    assert response.status_code == 200
    assert (await centre.events(alarm))[-1].type == "medical_notes_opened"


async def test_the_key_safe_code_is_encrypted_at_rest_and_its_opening_audited(centre: Centre) -> None:
    async with centre.sessions() as session:
        raw = (
            await session.execute(
                text(f"SELECT key_safe_code_encrypted FROM resident WHERE id = {centre.home.resident_id}")
            )
        ).scalar_one()
    assert raw
    assert KEY_SAFE_CODE not in raw
    assert DATA_KEY.decrypt(raw.encode()).decode() == KEY_SAFE_CODE

    alarm = await centre.raise_alarm()
    response = await (await centre.as_("operator")).get(f"/api/alarms/{alarm}/key-safe")
    assert response.status_code == 200
    assert response.json()["code"] == KEY_SAFE_CODE
    assert response.headers["cache-control"] == "no-store"
    opened = (await centre.events(alarm))[-1]
    assert (opened.type, opened.actor_id) == ("key_safe_code_opened", centre.staff["operator"].id)
    assert KEY_SAFE_CODE not in json.dumps(opened.detail)


async def test_key_safe_without_a_code_or_without_the_key(centre: Centre) -> None:
    other = await centre.raise_alarm(centre.away)
    admin = await centre.as_("administrator")
    assert (await admin.get(f"/api/alarms/{other}/key-safe")).status_code == 404
    alarm = await centre.raise_alarm()
    for data_key in (None, Fernet(Fernet.generate_key())):
        app = create_app(_context(centre.sessions, data_key), clock=centre.clock)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
            await log_in(client, centre.staff["operator"])
            response = await client.get(f"/api/alarms/{alarm}/key-safe")
            assert response.status_code == 503
            assert "data key" in response.json()["detail"]
    assert [e.type for e in await centre.events(alarm)] == ["raised"]


# ---- supervisor ------------------------------------------------------------------------------------------------


async def test_the_supervisor_overview(centre: Centre) -> None:
    fast = await centre.raise_alarm()
    await centre.as_("operator")  # logged in: online
    centre.clock.advance(30)
    assert (await _act(centre, "operator", "claim", fast)).status_code == 200
    slow = await centre.raise_alarm(kind=AlarmKind.FALL)
    centre.clock.advance(120)
    assert (await _act(centre, "operator2", "claim", slow)).status_code == 200
    await centre.raise_alarm(centre.away)  # another municipality: not in this supervisor's figures
    centre.clock.advance(61)

    assert (await (await centre.as_("operator")).get("/api/supervisor/overview")).status_code == 403
    assert (await (await centre.as_("technician")).get("/api/supervisor/overview")).status_code == 403
    response = await (await centre.as_("supervisor")).get("/api/supervisor/overview")
    assert response.status_code == 200, response.text
    overview = response.json()
    assert sorted(a["alarm"]["id"] for a in overview["open_alarms"]) == [fast, slow]
    assert overview["overdue_count"] == 0  # both claimed
    assert [a["escalated_to_supervisor"] for a in overview["open_alarms"]] == [False, False]
    online = {person["full_name"] for person in overview["operators_online"]}
    assert {"Ola Nowicka", "Jan Kos"} <= online
    times = overview["answer_times"]
    assert (times["alarms"], times["claimed"], times["within_60s"], times["missed_60s"]) == (2, 2, 1, 1)
    assert (times["within_180s"], times["missed_180s"]) == (2, 0)
    assert times["share_within_60s"] == 0.5
    assert times["share_within_180s"] == 1.0
    assert times["median_claim_s"] == 75.0

    assert (await _act(centre, "operator", "escalate", fast)).status_code == 200
    centre.clock.advance(121)  # nobody's requests for over 2 minutes: nobody online
    overview = (await (await centre.as_("administrator")).get("/api/supervisor/overview")).json()
    assert {person["full_name"] for person in overview["operators_online"]} == set()
    unclaimed = [a for a in overview["open_alarms"] if a["alarm"]["status"] == "raised"]
    assert [a["overdue"] for a in unclaimed] == [True]  # the other municipality's SOS, 182 s unclaimed
    assert [a["escalated_to_supervisor"] for a in overview["open_alarms"] if a["alarm"]["id"] == fast] == [True]
    # ... which has missed both targets already.
    assert (overview["answer_times"]["alarms"], overview["answer_times"]["missed_180s"]) == (3, 1)
    assert overview["answer_times"]["share_within_180s"] == pytest.approx(2 / 3)


# ---- the live feed ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(centre: Centre) -> AsyncIterator[str]:
    app = create_app(ConsoleContext(centre.sessions, AlarmFeed(centre.sessions), data_key=DATA_KEY), clock=centre.clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def _login_at(address: str, member: StaffMember) -> Login:
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        return await log_in(http, member)


async def test_the_live_feed_needs_a_login_and_streams_only_the_users_municipalities(centre: Centre) -> None:
    mine = await centre.raise_alarm()
    await centre.raise_alarm(centre.away)
    async with served(centre) as address:
        url = f"ws://{address}/ws/live"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        assert refused.value.response.status_code == 403
        login = await _login_at(address, centre.staff["operator"])
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, additional_headers=login.cookie_header, origin="http://evil.example"):
                pass

        async with websockets.connect(url, additional_headers=login.cookie_header) as ws:
            snapshot = json.loads(await ws.recv())
            assert [a["id"] for a in snapshot["alarms"]] == [mine]
            await centre.raise_alarm(centre.away, AlarmKind.FALL)  # not for this operator
            mine_too = await centre.raise_alarm(kind=AlarmKind.FALL)
            async with asyncio.timeout(10):
                message = json.loads(await ws.recv())
            assert message["type"] == "alarm_event"
            assert message["alarm"]["id"] == mine_too
            client = await centre.as_("operator2")
            assert (await client.post(f"/api/alarms/{mine_too}/claim")).status_code == 200
            async with asyncio.timeout(10):
                claimed = json.loads(await ws.recv())
            assert claimed["event"]["type"] == "claimed"
            assert claimed["alarm"]["claimed_by_name"] == "Jan Kos"
            assert claimed["alarm"]["municipality_id"] == centre.home.municipality_id


async def test_a_supervisor_stores_a_key_safe_code_for_their_municipality(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    supervisor = await centre.as_("supervisor")
    path = f"/api/residents/{centre.home.resident_id}/key-safe"
    assert (await supervisor.put(path, json={"code": "1234"})).status_code == 204
    operator = await centre.as_("operator")
    assert (await operator.get(f"/api/alarms/{alarm}/key-safe")).json()["code"] == "1234"
    assert (await operator.put(path, json={"code": "9999"})).status_code == 403
    away = f"/api/residents/{centre.away.resident_id}/key-safe"
    assert (await supervisor.put(away, json={"code": "9999"})).status_code == 403
    assert (await supervisor.put("/api/residents/999999/key-safe", json={"code": "9"})).status_code == 404
    for bad in ({}, {"code": ""}, {"code": "x" * 33}, {"code": 5}, {"code": "1", "more": 1}):
        response = await supervisor.put(path, json=bad)
        assert response.status_code == 422, bad
    assert (await supervisor.put(path, json={"code": None})).status_code == 204
    assert (await operator.get(f"/api/alarms/{alarm}/key-safe")).status_code == 404


GARBAGE: list[Any] = [None, [], "x", 0, {"note": None}, {"note": "x" * 5000}, {"outcome": {"a": 1}}, {"channel": 1}]


async def test_bad_input_is_never_a_500(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    client = await centre.as_("administrator")
    paths = ["claim", "release", "notes", "escalate", "resolve", "resident-calls", "notify"]
    for suffix in paths:
        for body in GARBAGE:
            response = await client.post(f"/api/alarms/{alarm}/{suffix}", json=body)
            assert response.status_code < 500, (suffix, body, response.text)
        raw = await client.post(
            f"/api/alarms/{alarm}/{suffix}", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert raw.status_code < 500, suffix
    for body in GARBAGE:
        assert (await client.post("/api/login", json=body)).status_code == 422


async def test_the_api_is_documented(centre: Centre) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=centre.app), base_url="http://console") as http:
        document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/api/login",
        "/api/logout",
        "/api/me",
        "/api/alarms",
        "/api/alarms/{alarm_id}",
        "/api/alarms/{alarm_id}/claim",
        "/api/alarms/{alarm_id}/resolve",
        "/api/alarms/{alarm_id}/medical",
        "/api/alarms/{alarm_id}/key-safe",
        "/api/alarms/{alarm_id}/notify",
        "/api/supervisor/overview",
        "/api/residents/{resident_id}/key-safe",
    ):
        assert path in paths, path


async def test_the_live_feed_closes_when_the_login_ends(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    import console.live_socket

    monkeypatch.setattr(console.live_socket, "LIVE_SESSION_CHECK_S", 0.1)
    async with served(centre) as address:
        login = await _login_at(address, centre.staff["operator"])
        async with websockets.connect(f"ws://{address}/ws/live", additional_headers=login.cookie_header) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            async with httpx.AsyncClient(base_url=f"http://{address}") as http:
                http.cookies.set("opaska_session", login.session_token)
                logout = await http.post("/api/logout", headers={"X-CSRF-Token": login.csrf_token})
                assert logout.status_code == 204
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(5):
                    await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008


async def test_rejected_band_messages_are_scoped_to_the_users_municipalities(centre: Centre) -> None:
    entries = [
        DeadLetterEntry(
            received_at=centre.clock.now(),
            topic=f"opaska/v1/bands/{serial}/up/heartbeat",
            payload=b"{}",
            reason="invalid",
            detail=f"from {serial}",
            band=serial,
            kind="heartbeat",
        )
        for serial in (centre.home.serial, centre.away.serial, "NOBODY-1")
    ]
    async with centre.sessions() as session, session.begin():
        await keep_dead_letters(session, entries, keep=100)
    technician = await centre.as_("technician")
    assert [row["band"] for row in (await technician.get("/api/band-rejects")).json()] == [centre.home.serial]
    everything = (await (await centre.as_("administrator")).get("/api/band-rejects")).json()
    assert {row["band"] for row in everything} == {centre.home.serial, centre.away.serial, "NOBODY-1"}
    assert (await (await centre.as_("operator")).get("/api/band-rejects")).status_code == 403
