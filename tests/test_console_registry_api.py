"""The registry API behind the console: who may do what (roles × actions, own and other
municipality), bad input answered in Polish and never with a 500, 409 for duplicates, a band's
secret shown once, the installation test's results, device health as JSON and CSV, the CSV import
(dry run and import, UTF-8 and Windows-1250), and a resident's RODO export and erasure."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from registry.credentials import verify_band_secret
from registry.model import (
    Band,
    BandEvent,
    BandEventType,
    BandTestResult,
    Contact,
    Municipality,
    Resident,
    ResidentDataAccess,
    StaffUser,
)
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

VALID_IMEI = "490154203237518"


@dataclass
class Registry:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    home: SeededBand
    away: SeededBand
    staff: dict[str, StaffMember]
    app: Any
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def as_(self, who: str) -> httpx.AsyncClient:
        if who not in self.clients:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console")
            await log_in(client, self.staff[who])
            self.clients[who] = client
        return self.clients[who]

    async def band(self, band_id: int) -> Band:
        async with self.sessions() as session:
            band = await session.get(Band, band_id)
            assert band is not None
            return band

    async def count(self, model: type[Any]) -> int:
        async with self.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@pytest_asyncio.fixture
async def registry(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Registry]:
    home = await seed_resident_with_band(sessions, clock)
    away = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Nowak")
    async with sessions() as session, session.begin():
        resident = await session.get(Resident, home.resident_id)
        assert resident is not None
        resident.medical_notes = "Cukrzyca typu 2."
    mine = [home.municipality_id]
    staff = {
        "operator": await create_staff(sessions, clock, role="operator", municipality_ids=mine),
        "supervisor": await create_staff(sessions, clock, role="supervisor", municipality_ids=mine),
        "technician": await create_staff(
            sessions, clock, role="technician", municipality_ids=mine, full_name="Tomasz Technik"
        ),
        "administrator": await create_staff(sessions, clock, role="administrator"),
        "stranger": await create_staff(sessions, clock, role="technician", municipality_ids=[away.municipality_id]),
        "stranger_supervisor": await create_staff(
            sessions, clock, role="supervisor", municipality_ids=[away.municipality_id]
        ),
    }
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    found = Registry(sessions, clock, home, away, staff, app)
    try:
        yield found
    finally:
        for client in found.clients.values():
            await client.aclose()


def _serial() -> str:
    return f"OP-{uuid.uuid4().hex[:8].upper()}"


def _messages(response: httpx.Response) -> dict[str, str]:
    """{field: message} of a field-error answer."""
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return {str(d["loc"][-1]): d["msg"] for d in detail}


# ---- roles and municipalities ---------------------------------------------------------------------------


async def test_each_role_may_do_its_own_work_only(registry: Registry) -> None:
    home = registry.home
    resident_body = {"municipality_id": home.municipality_id, "first_name": "Jan", "last_name": "Lis"}

    def band_body() -> dict[str, Any]:
        return {"serial": _serial(), "model": "GT-300", "resident_id": home.resident_id}

    # (who, method, path, body) -> expected status
    cases: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
        ("operator", "GET", "/api/registry/residents", None, 200),
        ("operator", "GET", f"/api/registry/residents/{home.resident_id}", None, 200),
        ("operator", "POST", "/api/registry/residents", resident_body, 403),
        ("operator", "GET", "/api/registry/bands", None, 403),
        ("operator", "POST", "/api/registry/bands", band_body(), 403),
        ("operator", "GET", "/api/registry/devices/health", None, 403),
        ("technician", "GET", f"/api/registry/residents/{home.resident_id}", None, 200),
        ("technician", "POST", "/api/registry/residents", resident_body, 403),
        (
            "technician",
            "POST",
            f"/api/registry/residents/{home.resident_id}/contacts",
            {"name": "X", "phone": "601234567"},
            403,
        ),
        ("technician", "GET", "/api/registry/bands", None, 200),
        ("technician", "POST", "/api/registry/bands", band_body(), 201),
        ("technician", "GET", "/api/registry/devices/health", None, 200),
        ("technician", "GET", f"/api/registry/residents/{home.resident_id}/export", None, 403),
        ("supervisor", "POST", "/api/registry/residents", resident_body, 201),
        ("supervisor", "GET", "/api/registry/bands", None, 200),
        ("supervisor", "POST", "/api/registry/bands", band_body(), 403),
        ("supervisor", "POST", f"/api/registry/bands/{home.band_id}/test-mode", {}, 403),
        ("supervisor", "POST", "/api/registry/municipalities", {"code": "x1", "name": "X"}, 403),
        ("supervisor", "GET", f"/api/registry/residents/{home.resident_id}/export", None, 200),
        (
            "supervisor",
            "POST",
            f"/api/registry/residents/{home.resident_id}/erase",
            {"confirm_resident_id": home.resident_id},
            403,
        ),
        ("administrator", "POST", "/api/registry/municipalities", {"code": "0264011", "name": "Wrocław"}, 201),
        ("administrator", "POST", "/api/registry/residents", resident_body, 201),
        ("administrator", "POST", "/api/registry/bands", band_body(), 201),
    ]
    for who, method, path, body, expected in cases:
        client = await registry.as_(who)
        response = await client.request(method, path, json=body)
        assert response.status_code == expected, (who, method, path, response.text)

    # Medical notes only for those who keep the list, one recorded reading at a time.
    technician = await registry.as_("technician")
    supervisor = await registry.as_("supervisor")
    shown = (await supervisor.get(f"/api/registry/residents/{home.resident_id}")).json()
    assert (shown["has_medical_notes"], "Cukrzyca" in json.dumps(shown)) == (True, False)
    assert (await technician.get(f"/api/registry/residents/{home.resident_id}")).json()["has_medical_notes"] is None
    notes_url = f"/api/registry/residents/{home.resident_id}/medical-notes"
    assert (await technician.get(notes_url)).status_code == 403
    assert (await supervisor.get(notes_url)).json() == {"medical_notes": "Cukrzyca typu 2."}
    async with registry.sessions() as session:
        readings = (await session.execute(select(ResidentDataAccess))).scalars().all()
    assert [(r.resident_id, r.what) for r in readings] == [(home.resident_id, "medical_notes")]
    assert readings[0].staff_id is not None
    exported = (await supervisor.get(f"/api/registry/residents/{home.resident_id}/export")).json()
    assert [r["what"] for r in exported["medical_notes_read"]] == ["medical_notes"]
    # A NUL in a search is bad input (PostgreSQL text cannot hold it), not a server error.
    for search in ("/api/registry/residents", "/api/registry/bands"):
        nul = await supervisor.get(search, params={"q": "Ko\x00"})
        assert (nul.status_code, nul.json()["detail"][0]["loc"]) == (422, ["query", "q"]), search
    # Without a login: 401; a change without the CSRF token: 403.
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=registry.app), base_url="http://console")
    async with anonymous:
        assert (await anonymous.get("/api/registry/residents")).status_code == 401
    no_csrf = await supervisor.post("/api/registry/residents", json=resident_body, headers={"X-CSRF-Token": "wrong"})
    assert no_csrf.status_code == 403


async def test_another_municipality_is_refused_with_403(registry: Registry) -> None:
    home, away = registry.home, registry.away
    technician = await registry.as_("technician")
    supervisor = await registry.as_("supervisor")
    listed = (await technician.get("/api/registry/residents")).json()
    assert [r["id"] for r in listed] == [home.resident_id]
    assert [b["id"] for b in (await technician.get("/api/registry/bands")).json()] == [home.band_id]
    for client, method, path, body in [
        (technician, "GET", f"/api/registry/residents/{away.resident_id}", None),
        (technician, "GET", f"/api/registry/bands/{away.band_id}", None),
        (technician, "GET", f"/api/registry/residents?municipality_id={away.municipality_id}", None),
        (technician, "GET", f"/api/registry/devices/health?municipality_id={away.municipality_id}", None),
        (technician, "POST", f"/api/registry/bands/{away.band_id}/test-mode", {}),
        (technician, "POST", f"/api/registry/bands/{away.band_id}/decommission", {}),
        (technician, "POST", f"/api/registry/bands/{away.band_id}/credentials", None),
        (technician, "POST", "/api/registry/bands", {"serial": _serial(), "resident_id": away.resident_id}),
        (supervisor, "PATCH", f"/api/registry/residents/{away.resident_id}", {"address": "x"}),
        (
            supervisor,
            "POST",
            f"/api/registry/residents/{away.resident_id}/contacts",
            {"name": "X", "phone": "601234567"},
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": away.municipality_id, "first_name": "A", "last_name": "B"},
        ),
        (supervisor, "GET", f"/api/registry/residents/{away.resident_id}/export", None),
    ]:
        response = await client.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    # Nothing was changed in the other municipality.
    band = await registry.band(away.band_id)
    assert (band.status, band.test_mode_until) == ("active", None)
    # An administrator sees both; municipalities are listed by who may see them.
    admin = await registry.as_("administrator")
    assert {r["id"] for r in (await admin.get("/api/registry/residents")).json()} == {
        home.resident_id,
        away.resident_id,
    }
    assert [m["id"] for m in (await technician.get("/api/registry/municipalities")).json()] == [home.municipality_id]


# ---- bad input -----------------------------------------------------------------------------------------


async def test_bad_input_is_a_422_in_polish_never_a_500(registry: Registry) -> None:
    home = registry.home
    technician = await registry.as_("technician")
    supervisor = await registry.as_("supervisor")
    residents_before = await registry.count(Resident)
    bad: list[tuple[httpx.AsyncClient, str, str, Any, str, str]] = [
        (technician, "POST", "/api/registry/bands", {"imei": "490154203237519"}, "imei", "IMEI"),
        (technician, "POST", "/api/registry/bands", {"model": "GT"}, "serial", "numer seryjny"),
        (technician, "POST", "/api/registry/bands", {"serial": _serial(), "sim_phone": "12"}, "sim_phone", ""),
        (technician, "POST", "/api/registry/bands", {"serial": "x" * 65}, "serial", "najwyżej 64"),
        (technician, "POST", "/api/registry/bands", {"serial": "A\x00B"}, "serial", "NUL"),
        (technician, "POST", "/api/registry/bands", {"serial": _serial(), "color": "red"}, "color", "nieznane pole"),
        (technician, "POST", f"/api/registry/bands/{home.band_id}/test-mode", {"minutes": 0}, "minutes", "zakresem"),
        (technician, "POST", f"/api/registry/bands/{home.band_id}/swap", {}, "body", "new_band_id albo new_serial"),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": home.municipality_id, "last_name": "X"},
            "first_name",
            "pole wymagane",
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": home.municipality_id, "first_name": " ", "last_name": "X"},
            "first_name",
            "pole wymagane",
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": home.municipality_id, "first_name": "A", "last_name": "B", "birth_date": "2999-01-01"},
            "birth_date",
            "zakresu",
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": home.municipality_id, "first_name": "A", "last_name": "B", "birth_date": "31.02.1940"},
            "birth_date",
            "RRRR-MM-DD",
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": home.municipality_id, "first_name": "A", "last_name": "B", "phone": "abc"},
            "phone",
            "",
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": home.municipality_id, "first_name": "A", "last_name": "B", "language": "xx"},
            "language",
            "nieznany język",
        ),
        (
            supervisor,
            "POST",
            "/api/registry/residents",
            {"municipality_id": 2**63, "first_name": "A", "last_name": "B"},
            "municipality_id",
            "zakresem",
        ),
        (supervisor, "POST", "/api/registry/residents", "not json", "body", ""),
        (
            supervisor,
            "PATCH",
            f"/api/registry/residents/{home.resident_id}",
            {"first_name": None},
            "first_name",
            "pole wymagane",
        ),
        (
            supervisor,
            "PATCH",
            f"/api/registry/residents/{home.resident_id}",
            {"municipality_id": 5},
            "municipality_id",
            "nieznane pole",
        ),
        (
            supervisor,
            "POST",
            f"/api/registry/residents/{home.resident_id}/contacts",
            {"name": "Ala", "phone": "+48 12"},
            "phone",
            "",
        ),
        (
            supervisor,
            "POST",
            f"/api/registry/residents/{home.resident_id}/contacts",
            {"name": "Ala", "phone": "601234567", "priority": 9},
            "priority",
            "kolejność",
        ),
        (
            supervisor,
            "PUT",
            f"/api/registry/residents/{home.resident_id}/contacts/order",
            {"contact_ids": [1, 1]},
            "contact_ids",
            "dokładnie raz",
        ),
        (supervisor, "GET", "/api/registry/residents?municipality_id=abc", None, "municipality_id", "liczbę całkowitą"),
    ]
    for client, method, path, body, field_name, words in bad:
        if isinstance(body, str):
            response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
        else:
            response = await client.request(method, path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        messages = _messages(response)
        assert field_name in messages or field_name == "body", (field_name, messages)
        if words:
            assert any(words in message for message in messages.values()), (words, messages)
        assert all(message for message in messages.values())
    # Ids beyond the database's range, and ids of nothing.
    for path in (f"/api/registry/residents/{2**63}", "/api/registry/residents/0", "/api/registry/bands/-1"):
        assert (await supervisor.get(path)).status_code == 422
    missing = await supervisor.get("/api/registry/residents/987654321")
    assert missing.status_code == 404
    assert "nie ma mieszkańca" in _messages(missing)["id"]
    assert await registry.count(Resident) == residents_before


async def test_duplicates_are_409_with_the_field_named(registry: Registry) -> None:
    technician = await registry.as_("technician")
    admin = await registry.as_("administrator")
    first = await technician.post("/api/registry/bands", json={"serial": "OP-DUP-1", "imei": VALID_IMEI})
    assert first.status_code == 201, first.text
    again = await technician.post("/api/registry/bands", json={"serial": "OP-DUP-1"})
    assert again.status_code == 409
    assert "już zarejestrowana" in _messages(again)["serial"]
    same_imei = await technician.post("/api/registry/bands", json={"serial": "OP-DUP-2", "imei": VALID_IMEI})
    assert same_imei.status_code == 409
    assert "IMEI" in _messages(same_imei)["imei"]
    assert (await admin.post("/api/registry/municipalities", json={"code": "m1", "name": "A"})).status_code == 201
    dup = await admin.post("/api/registry/municipalities", json={"code": "m1", "name": "B"})
    assert dup.status_code == 409
    assert "już istnieje" in _messages(dup)["code"]


# ---- bands --------------------------------------------------------------------------------------------------


async def test_registration_shows_the_secret_once_and_reissue_and_revoke_change_it(registry: Registry) -> None:
    technician = await registry.as_("technician")
    serial = _serial()
    response = await technician.post(
        "/api/registry/bands",
        json={
            "serial": serial,
            "model": "GT-300",
            "firmware": "1.4.2",
            "sim_phone": "501 234 567",
            "resident_id": registry.home.resident_id,
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    registered = response.json()
    secret = registered["secret"]
    assert registered["username"] == serial
    band = registered["band"]
    assert (band["status"], band["resident_id"], band["has_credentials"], band["sim_phone"]) == (
        "active",
        registry.home.resident_id,
        True,
        "+48501234567",
    )
    stored = await registry.band(band["id"])
    assert stored.secret_hash is not None
    assert verify_band_secret(secret, stored.secret_hash)

    # Never again: not in the band, the band list, the resident nor the history.
    for path in (
        f"/api/registry/bands/{band['id']}",
        "/api/registry/bands",
        f"/api/registry/residents/{registry.home.resident_id}",
    ):
        shown = await technician.get(path)
        assert shown.status_code == 200
        assert secret not in shown.text
    detail = (await technician.get(f"/api/registry/bands/{band['id']}")).json()
    assert [e["type"] for e in detail["history"]] == ["registered", "credentials_issued", "bound"]
    assert {e["staff_name"] for e in detail["history"]} == {"Tomasz Technik"}

    reissued = await technician.post(f"/api/registry/bands/{band['id']}/credentials")
    assert reissued.status_code == 200
    new_secret = reissued.json()["secret"]
    assert new_secret != secret
    stored = await registry.band(band["id"])
    assert stored.secret_hash is not None
    assert verify_band_secret(new_secret, stored.secret_hash)
    assert not verify_band_secret(secret, stored.secret_hash)

    revoked = await technician.delete(f"/api/registry/bands/{band['id']}/credentials")
    assert revoked.status_code == 200
    assert revoked.json()["band"]["has_credentials"] is False
    assert (await registry.band(band["id"])).secret_hash is None
    # A band without credentials cannot be tested: say so, do not pretend.
    refused = await technician.post(f"/api/registry/bands/{band['id']}/test-mode", json={})
    assert refused.status_code == 409
    assert "danych logowania" in _messages(refused)["band_id"]


async def test_bind_unbind_swap_and_decommission_keep_history(registry: Registry) -> None:
    home = registry.home
    technician = await registry.as_("technician")
    supervisor = await registry.as_("supervisor")
    other = await supervisor.post(
        "/api/registry/residents",
        json={"municipality_id": home.municipality_id, "first_name": "Maria", "last_name": "Lis"},
    )
    other_id = other.json()["resident"]["id"]

    # A band bound to someone else is refused by name.
    taken = await technician.post(f"/api/registry/bands/{home.band_id}/bind", json={"resident_id": other_id})
    assert taken.status_code == 409
    assert "innego mieszkańca" in _messages(taken)["band_id"]

    # A band from stock (registered unbound: shared stock any technician may take) replaces the old one.
    spare = (await technician.post("/api/registry/bands", json={"serial": _serial(), "model": "GT-300"})).json()
    assert spare["band"]["status"] == "stock"
    assert spare["band"]["id"] in [b["id"] for b in (await technician.get("/api/registry/bands")).json()]
    swapped = await technician.post(
        f"/api/registry/bands/{home.band_id}/swap",
        json={"new_serial": spare["band"]["serial"], "note": "pęknięty pasek"},
    )
    assert swapped.status_code == 200, swapped.text
    assert (swapped.json()["band"]["id"], swapped.json()["band"]["resident_id"]) == (
        spare["band"]["id"],
        home.resident_id,
    )
    old = (await technician.get(f"/api/registry/bands/{home.band_id}")).json()
    assert old["band"]["status"] == "retired"
    assert old["history"][-1]["type"] == "swapped_out"
    assert old["history"][-1]["other_band_serial"] == spare["band"]["serial"]
    assert old["history"][-1]["note"] == "pęknięty pasek"
    # The retired band still belongs to its last resident's municipality: hidden from others.
    stranger = await registry.as_("stranger")
    assert (await stranger.get(f"/api/registry/bands/{home.band_id}")).status_code == 403
    again = await technician.post(f"/api/registry/bands/{home.band_id}/bind", json={"resident_id": other_id})
    assert again.status_code == 409
    assert "wycofana" in _messages(again)["band_id"]
    resident = (await technician.get(f"/api/registry/residents/{home.resident_id}")).json()
    assert [b["id"] for b in resident["bands"]] == [spare["band"]["id"]]
    assert [e["type"] for e in resident["band_history"]][-2:] == ["swapped_out", "swapped_in"]

    # Unbind, bind to the other resident, decommission.
    new_id = spare["band"]["id"]
    unbound = await technician.post(f"/api/registry/bands/{new_id}/unbind")
    assert unbound.json()["band"]["status"] == "stock"
    bound = await technician.post(f"/api/registry/bands/{new_id}/bind", json={"resident_id": other_id})
    assert bound.json()["band"]["resident_name"] == "Maria Lis"
    retired = await technician.post(f"/api/registry/bands/{new_id}/decommission", json={"note": "zgubiona"})
    assert retired.json()["band"]["status"] == "retired"
    assert retired.json()["band"]["has_credentials"] is False
    assert [e["type"] for e in retired.json()["history"]] == [
        "registered",
        "credentials_issued",
        "swapped_in",
        "unbound",
        "bound",
        "decommissioned",
    ]
    missing = await technician.post(f"/api/registry/bands/{home.band_id}/swap", json={"new_band_id": 2**40})
    assert missing.status_code in (404, 409)
    # Filters.
    retired_list = (await technician.get("/api/registry/bands?status=retired")).json()
    assert {b["id"] for b in retired_list} == {home.band_id, new_id}
    assert (await technician.get("/api/registry/bands?status=lost")).status_code == 422
    assert [b["id"] for b in (await technician.get(f"/api/registry/bands?q={home.serial[-6:].lower()}")).json()] == [
        home.band_id
    ]


async def test_installation_test_start_results_and_stop(registry: Registry) -> None:
    home = registry.home
    technician = await registry.as_("technician")
    started = await technician.post(f"/api/registry/bands/{home.band_id}/test-mode", json={"minutes": 20})
    assert started.status_code == 200, started.text
    state = started.json()
    assert state["in_test_mode"] is True
    assert state["results"] == []
    assert state["pass_latency_ms"] == 5000

    # What the gateway records when the band's test SOS and fall arrive (`record_test_result`).
    async with registry.sessions() as session, session.begin():
        now = registry.clock.now()
        for kind, latency_ms, passed, note in (
            ("sos", 850, True, ""),
            ("fall", 9000, False, "alarm dotarł po 9000 ms (limit 5000 ms): sprawdź zasięg"),
        ):
            session.add(
                BandTestResult(
                    band_id=home.band_id,
                    alarm_id=None,
                    resident_id=home.resident_id,
                    kind=kind,
                    pressed_at=now - timedelta(milliseconds=latency_ms),
                    received_at=now,
                    latency_ms=latency_ms,
                    passed=passed,
                    note=note,
                )
            )
            await session.flush()
    results = (await technician.get(f"/api/registry/bands/{home.band_id}/tests")).json()
    assert [(r["kind"], r["passed"], r["latency_ms"]) for r in results["results"]] == [
        ("fall", False, 9000),
        ("sos", True, 850),
    ]
    assert "sprawdź zasięg" in results["results"][0]["note"]
    detail = (await technician.get(f"/api/registry/bands/{home.band_id}")).json()
    assert detail["band"]["in_test_mode"] is True
    assert len(detail["tests"]) == 2

    stopped = await technician.delete(f"/api/registry/bands/{home.band_id}/test-mode")
    assert stopped.json()["in_test_mode"] is False
    types = [e["type"] for e in (await technician.get(f"/api/registry/bands/{home.band_id}")).json()["history"]]
    assert types[-2:] == ["test_started", "test_stopped"]
    # It ends by itself, too.
    await technician.post(f"/api/registry/bands/{home.band_id}/test-mode", json={"minutes": 1})
    registry.clock.advance(61)
    assert (await technician.get(f"/api/registry/bands/{home.band_id}/tests")).json()["in_test_mode"] is False


async def test_device_health_as_json_and_csv(registry: Registry) -> None:
    home = registry.home
    technician = await registry.as_("technician")
    async with registry.sessions() as session, session.begin():
        band = await session.get(Band, home.band_id)
        assert band is not None
        band.last_seen_at = registry.clock.now() - timedelta(minutes=1)
        band.online = True
        band.battery_pct = 9
        band.charging = False
        band.worn = True
    rows = (await technician.get("/api/registry/devices/health")).json()
    assert [(r["serial"], r["problems"], r["problems_pl"], r["battery_pct"]) for r in rows] == [
        (home.serial, ["battery_low"], ["niski poziom baterii"], 9)
    ]
    assert rows[0]["resident_name"] == "Helena Kowalska"
    everything = (
        await technician.get(f"/api/registry/devices/health?all=true&municipality_id={home.municipality_id}")
    ).json()
    assert [r["serial"] for r in everything] == [home.serial]
    download = await technician.get("/api/registry/devices/health.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert download.content.startswith(b"\xef\xbb\xbf")
    lines = download.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("numer_opaski;imei;model;gmina;mieszkaniec;problemy")
    assert lines[1].startswith(f"{home.serial};")
    assert "niski poziom baterii" in lines[1]
    # The other municipality's bands are not in anyone else's list.
    stranger = await registry.as_("stranger")
    assert home.serial not in (await stranger.get("/api/registry/devices/health.csv")).text


# ---- residents and contacts -------------------------------------------------------------------------------


async def test_residents_and_contacts_are_kept_by_supervisors(registry: Registry) -> None:
    home = registry.home
    supervisor = await registry.as_("supervisor")
    created = await supervisor.post(
        "/api/registry/residents",
        json={
            "municipality_id": home.municipality_id,
            "first_name": "Stanisław",
            "last_name": "Wójcik",
            "address": "ul. Kasztanowa 3, Wrocław",
            "birth_date": "1939-05-17",
            "phone": "71 222 33 44",
            "access_notes": "klucz u sąsiadki",
        },
    )
    assert created.status_code == 201, created.text
    resident_id = created.json()["resident"]["id"]
    assert created.json()["resident"]["phone"] == "+48712223344"
    found = (await supervisor.get("/api/registry/residents?q=wójcik kasztanowa")).json()
    assert [r["id"] for r in found] == [resident_id]
    assert (await supervisor.get("/api/registry/residents?q=nikt-taki")).json() == []

    base = f"/api/registry/residents/{resident_id}/contacts"
    await supervisor.post(
        base, json={"name": "Anna Wójcik", "phone": "601 111 222", "relation": "córka", "has_key": True}
    )
    await supervisor.post(base, json={"name": "Jan Wójcik", "phone": "601 111 333", "relation": "syn"})
    listed = (await supervisor.post(base, json={"name": "Ewa Sąsiad", "phone": "601 111 444", "priority": 1})).json()
    assert [c["name"] for c in listed] == ["Ewa Sąsiad", "Anna Wójcik", "Jan Wójcik"]
    ids = [c["id"] for c in listed]
    reordered = await supervisor.put(f"{base}/order", json={"contact_ids": [ids[1], ids[2], ids[0]]})
    assert [(c["name"], c["priority"]) for c in reordered.json()] == [
        ("Anna Wójcik", 1),
        ("Jan Wójcik", 2),
        ("Ewa Sąsiad", 3),
    ]
    changed = await supervisor.patch(
        f"/api/registry/contacts/{ids[2]}", json={"phone": "+48 602 000 111", "has_key": True}
    )
    assert (changed.json()["phone"], changed.json()["has_key"]) == ("+48602000111", True)
    left = (await supervisor.delete(f"/api/registry/contacts/{ids[1]}")).json()
    assert [(c["name"], c["priority"]) for c in left] == [("Jan Wójcik", 1), ("Ewa Sąsiad", 2)]
    assert (await supervisor.delete(f"/api/registry/contacts/{ids[1]}")).status_code == 404
    # Another municipality's supervisor may not touch them.
    stranger = await registry.as_("stranger_supervisor")
    assert (await stranger.patch(f"/api/registry/contacts/{ids[2]}", json={"name": "X"})).status_code == 403

    updated = await supervisor.patch(
        f"/api/registry/residents/{resident_id}",
        json={"address": "ul. Nowa 1", "phone": None, "medical_notes": "astma"},
    )
    assert (updated.json()["resident"]["address"], updated.json()["resident"]["phone"]) == ("ul. Nowa 1", None)
    assert (await supervisor.get(f"/api/registry/residents/{resident_id}/medical-notes")).json() == {
        "medical_notes": "astma"
    }

    # Leaving the programme: inactive, the band back in stock, recorded in its history.
    gone = await supervisor.post(f"/api/registry/residents/{home.resident_id}/deactivate")
    assert gone.json()["resident"]["active"] is False
    assert (await registry.band(home.band_id)).status == "stock"
    unbound = gone.json()["band_history"][-1]
    assert (unbound["type"], unbound["staff_id"]) == ("unbound", registry.staff["supervisor"].id)
    assert home.resident_id not in [r["id"] for r in (await supervisor.get("/api/registry/residents")).json()]
    assert home.resident_id in [
        r["id"] for r in (await supervisor.get("/api/registry/residents?include_inactive=true")).json()
    ]


# ---- CSV import --------------------------------------------------------------------------------------------------

CSV_HEADER = (
    "gmina;imie;nazwisko;data_urodzenia;telefon;kontakt1_imie_nazwisko;kontakt1_telefon;kontakt1_klucz;opaska_numer"
)


def _csv(code: str, *rows: str, separator: str = ";") -> str:
    return "\r\n".join([CSV_HEADER.replace(";", separator), *(row.replace(";", separator) for row in rows)]) + "\r\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1250"])
async def test_csv_import_dry_run_then_import_through_the_api(registry: Registry, encoding: str) -> None:
    supervisor = await registry.as_("supervisor")
    async with registry.sessions() as session:
        municipality = await session.get(Municipality, registry.home.municipality_id)
        assert municipality is not None
        code = municipality.code
    text = _csv(
        code,
        f"{code};Łucja;Żółkiewska;1938-11-20;71 123 45 67;Józef Żółkiewski;603 456 789;tak;IMP-{encoding}-1",
        f"{code};Grzegorz;Brzęczyszczykiewicz;02.03.1941;;;;;",
    )
    data = text.encode(encoding)
    residents_before = await registry.count(Resident)

    # Dry run, as a multipart upload: the report, nothing written.
    dry = await supervisor.post(
        "/api/registry/import?dry_run=true", files={"file": ("mieszkancy.csv", data, "text/csv")}
    )
    assert dry.status_code == 200, dry.text
    report = dry.json()
    expected_encoding = "UTF-8 (z BOM)" if encoding == "utf-8-sig" else "Windows-1250"
    assert (report["ok"], report["written"], report["rows"], report["encoding"], report["separator"]) == (
        True,
        False,
        2,
        expected_encoding,
        ";",
    )
    assert await registry.count(Resident) == residents_before

    # The import, as the raw body.
    done = await supervisor.post(
        "/api/registry/import?dry_run=false", content=data, headers={"Content-Type": "text/csv"}
    )
    assert done.status_code == 200, done.text
    assert (done.json()["written"], done.json()["residents"], done.json()["contacts"], done.json()["bands"]) == (
        True,
        2,
        1,
        1,
    )
    names = {r["last_name"] for r in (await supervisor.get("/api/registry/residents")).json()}
    assert {"Żółkiewska", "Brzęczyszczykiewicz"} <= names

    # The same file again: every row a duplicate, reported by row and column; nothing written.
    again = await supervisor.post(
        "/api/registry/import?dry_run=false", content=data, headers={"Content-Type": "text/csv"}
    )
    assert again.status_code == 422
    problems = again.json()["report"]["problems"]
    assert {(p["row"], p["column"]) for p in problems} >= {(2, "nazwisko"), (2, "opaska_numer"), (3, "nazwisko")}
    assert any("już w rejestrze" in p["message"] for p in problems)
    assert await registry.count(Resident) == residents_before + 2


async def test_csv_import_reports_broken_files_and_other_municipalities(registry: Registry) -> None:
    supervisor = await registry.as_("supervisor")
    async with registry.sessions() as session:
        home = await session.get(Municipality, registry.home.municipality_id)
        away = await session.get(Municipality, registry.away.municipality_id)
        assert home is not None
        assert away is not None
    broken = _csv(
        home.code,
        f"{home.code};Anna;;1938-13-40;123;Ktoś;abc;może;",
        "nieznana;Jan;Lis;;;;;;",
        f"{away.code};Ewa;Kot;;;;;;",
    ).encode()
    residents_before = await registry.count(Resident)
    dry = await supervisor.post("/api/registry/import", content=broken, headers={"Content-Type": "text/csv"})
    assert dry.status_code == 200
    problems = {(p["row"], p["column"]): p["message"] for p in dry.json()["problems"]}
    assert problems[(2, "nazwisko")] == "pole wymagane jest puste"
    assert "nieprawidłowa data" in problems[(2, "data_urodzenia")]
    assert (2, "telefon") in problems
    assert (2, "kontakt1_telefon") in problems
    assert "nieznana gmina" in problems[(3, "gmina")]
    assert "nie jest przypisana do Ciebie" in problems[(4, "gmina")]
    # A file with only the other municipality's rows is not written either, though otherwise good.
    theirs = _csv(away.code, f"{away.code};Ewa;Kot;;;;;;").encode()
    refused = await supervisor.post(
        "/api/registry/import?dry_run=false", content=theirs, headers={"Content-Type": "text/csv"}
    )
    assert refused.status_code == 422
    assert "nie jest przypisana do Ciebie" in refused.json()["detail"][0]["msg"]
    # Not a CSV at all, an empty upload, a missing file field.
    utf16 = await supervisor.post("/api/registry/import", content=_csv(home.code).encode("utf-16"))
    assert utf16.status_code == 422
    assert "bajty zerowe" in _messages(utf16)["file"]
    empty = await supervisor.post("/api/registry/import", content=b"")
    assert empty.status_code == 200
    assert "pusty" in empty.json()["problems"][0]["message"]
    no_file = await supervisor.post("/api/registry/import", files={"other": ("x.csv", b"a", "text/csv")})
    assert no_file.status_code == 422
    assert await registry.count(Resident) == residents_before
    # An administrator imports into any municipality.
    admin = await registry.as_("administrator")
    assert (
        await admin.post("/api/registry/import?dry_run=false", content=theirs, headers={"Content-Type": "text/csv"})
    ).status_code == 200


# ---- RODO -----------------------------------------------------------------------------------------------------------


async def test_rodo_export_and_erase(registry: Registry) -> None:
    home = registry.home
    supervisor = await registry.as_("supervisor")
    admin = await registry.as_("administrator")
    exported = await supervisor.get(f"/api/registry/residents/{home.resident_id}/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.headers["cache-control"] == "no-store"
    data = exported.json()
    assert data["resident"]["last_name"] == "Kowalska"
    assert data["contacts"][0]["name"] == "Anna Kowalska"
    assert home.secret not in exported.text

    wrong = await admin.post(
        f"/api/registry/residents/{home.resident_id}/erase", json={"confirm_resident_id": 1 + home.resident_id}
    )
    assert wrong.status_code == 422
    assert "potwierdzić" in _messages(wrong)["confirm_resident_id"]
    assert (await admin.post(f"/api/registry/residents/{home.resident_id}/erase", json={})).status_code == 422
    erased = await admin.post(
        f"/api/registry/residents/{home.resident_id}/erase", json={"confirm_resident_id": home.resident_id}
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True
    after = (await admin.get(f"/api/registry/residents/{home.resident_id}")).json()
    assert (after["resident"]["first_name"], after["resident"]["address"], after["contacts"]) == ("Usunięty", "", [])
    async with registry.sessions() as session:
        assert (
            await session.execute(
                select(func.count()).select_from(Contact).where(Contact.resident_id == home.resident_id)
            )
        ).scalar_one() == 0
        assert (
            await session.execute(select(func.count()).select_from(BandEvent).where(BandEvent.band_id == home.band_id))
        ).scalar_one() > 0
        # The band went back to stock by the administrator's hand, and its history says so.
        unbound_by = (
            await session.execute(
                select(StaffUser.role)
                .join(BandEvent, BandEvent.staff_id == StaffUser.id)
                .where(BandEvent.band_id == home.band_id, BandEvent.type == BandEventType.UNBOUND)
            )
        ).scalar_one()
        assert unbound_by == "administrator"
    assert (await registry.band(home.band_id)).status == "stock"
    missing = await admin.post("/api/registry/residents/987654321/erase", json={"confirm_resident_id": 987654321})
    assert missing.status_code == 404


# ---- pages --------------------------------------------------------------------------------------------------------


async def test_registry_pages_need_a_login_and_a_registry_role(registry: Registry) -> None:
    home = registry.home
    pages = [
        "/registry",
        f"/registry/residents/{home.resident_id}",
        "/registry/bands/new",
        f"/registry/bands/{home.band_id}",
        "/devices",
    ]
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=registry.app), base_url="http://console")
    async with anonymous:
        for path in pages:
            response = await anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
    operator = await registry.as_("operator")
    technician = await registry.as_("technician")
    for path in pages:
        refused = await operator.get(path)
        assert refused.status_code == 403
        assert "dostępne dla techników" in refused.text
        shown = await technician.get(path)
        assert shown.status_code == 200, path
        assert shown.headers["cache-control"] == "no-store"
        scripts = re.findall(r'src="(/static/[^"]+)"', shown.text)
        assert "/static/registry_common.js" in scripts
        for script in scripts:
            assert (await technician.get(script)).status_code == 200, script
    assert (await technician.get("/registry/bands/0")).status_code == 422
