"""Welfare calls through the console's API: planned per resident and for a whole municipality, the
shift's list (each staff member's own municipalities only), and the outcomes: reached closes the
call; a first no answer plans a retry 30 minutes on and a second raises a welfare_call alarm, once;
a needed visit raises one at once, with its escalation started; a weekly call plans the next week's.
The clock is moved, not slept."""

# ruff: noqa: F811 - `centre` is the alarm API tests' fixture, imported so pytest finds it here

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.care.welfare_model import WelfareCall
from alarm_center.escalation.model import Escalation
from registry import service
from tests.test_console_alarms_api import Centre, centre  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.asyncio

WARSAW = ZoneInfo("Europe/Warsaw")


def _to_morning(centre: Centre) -> datetime:
    """Move the clock to 7:00 tomorrow (Warsaw), so a day's calls fall on one local day."""
    day = (centre.clock.now() + timedelta(days=1)).astimezone(WARSAW).date()
    centre.clock.advance((datetime.combine(day, time(7), WARSAW) - centre.clock.now()).total_seconds())
    return centre.clock.now()


async def _log_in_again(centre: Centre, *who: str) -> list[httpx.AsyncClient]:
    """Fresh logins after the clock moved past the sessions' idle timeout."""
    for name in who:
        await centre.clients.pop(name).aclose()
    return [await centre.as_(name) for name in who]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


async def _plan(
    client: httpx.AsyncClient, resident_id: int, due_at: datetime, reason: str = "weekly", **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/registry/residents/{resident_id}/welfare-calls",
        json={"due_at": _iso(due_at), "reason": reason, **extra},
    )


async def _outcome(client: httpx.AsyncClient, call_id: int, outcome: str, note: str = "") -> httpx.Response:
    return await client.post(f"/api/welfare-calls/{call_id}/outcome", json={"outcome": outcome, "note": note})


async def _due(client: httpx.AsyncClient, hours: int = 12) -> list[dict[str, Any]]:
    response = await client.get("/api/welfare-calls/due", params={"hours": hours})
    assert response.status_code == 200, response.text
    calls: list[dict[str, Any]] = response.json()
    return calls


async def _welfare_alarms(centre: Centre, resident_id: int) -> list[Alarm]:
    async with centre.sessions() as session:
        rows = await session.execute(
            select(Alarm).where(Alarm.resident_id == resident_id, Alarm.kind == "welfare_call").order_by(Alarm.id)
        )
        return list(rows.scalars())


async def test_a_call_is_planned_and_listed_for_the_shift_of_its_municipality_only(centre: Centre) -> None:
    now = _to_morning(centre)
    technician = await centre.as_("technician")
    operator = await centre.as_("operator")
    stranger = await centre.as_("stranger")
    home = centre.home.resident_id

    planned = await _plan(technician, home, now + timedelta(hours=2), "discharge", note="po wypisie ze szpitala 2.12")
    assert planned.status_code == 201, planned.text
    call = planned.json()
    assert (call["resident_name"], call["reason"], call["attempt"], call["done_at"]) == (
        "Helena Kowalska",
        "discharge",
        1,
        None,
    )
    # The same reason the same day again: refused; another reason that day is a call of its own.
    again = await _plan(technician, home, now + timedelta(hours=5), "discharge")
    assert again.status_code == 409, again.text
    assert again.json()["detail"][0]["loc"] == ["body", "due_at"]
    later = await _plan(operator, home, now + timedelta(hours=20), "birthday")
    assert later.status_code == 201, later.text

    # The shift: the next 12 hours hold the discharge call; 24 hours hold the birthday too.
    due = await _due(operator)
    assert [(c["id"], c["note"], c["address"]) for c in due] == [
        (call["id"], "po wypisie ze szpitala 2.12", "ul. Legnicka 12/4, Wrocław")
    ]
    assert [c["reason"] for c in await _due(operator, hours=24)] == ["discharge", "birthday"]
    # Overdue calls stay at the top until someone records them.
    centre.clock.advance(3 * 3600)
    operator, technician, stranger = await _log_in_again(centre, "operator", "technician", "stranger")
    assert [c["id"] for c in await _due(operator, hours=1)] == [call["id"]]

    # Another municipality's operator sees none of it.
    assert await _due(stranger, hours=48) == []
    assert (await stranger.get(f"/api/registry/residents/{home}/welfare-calls")).status_code == 403
    assert (await _outcome(stranger, call["id"], "reached")).status_code == 403
    # A technician plans but does not take the shift's calls.
    assert (await technician.get("/api/welfare-calls/due")).status_code == 403

    listed = (await technician.get(f"/api/registry/residents/{home}/welfare-calls")).json()
    assert [c["reason"] for c in listed] == ["discharge", "birthday"]


async def test_a_municipality_is_planned_at_once_leaving_out_calls_already_planned(centre: Centre) -> None:
    due_at = _to_morning(centre) + timedelta(hours=1)
    supervisor = await centre.as_("supervisor")
    operator = await centre.as_("operator")
    home = centre.home
    async with centre.sessions() as session, session.begin():
        other = await service.create_resident(
            session, centre.clock, municipality_id=home.municipality_id, first_name="Jan", last_name="Lis"
        )
        gone = await service.create_resident(
            session, centre.clock, municipality_id=home.municipality_id, first_name="Ewa", last_name="Bąk"
        )
        gone.active = False
    assert (await _plan(supervisor, home.resident_id, due_at)).status_code == 201

    url = f"/api/registry/municipalities/{home.municipality_id}/welfare-calls"
    body = {"due_at": _iso(due_at + timedelta(hours=1)), "reason": "weekly", "note": "Jak się Pan/Pani czuje?"}
    first = await supervisor.post(url, json=body)
    assert first.status_code == 201, first.text
    # Helena has her weekly call that day already, Ewa has left the programme: only Jan's is new.
    assert first.json() == {"created": 1}
    assert (await supervisor.post(url, json=body)).json() == {"created": 0}
    assert sorted(c["resident_id"] for c in await _due(operator)) == sorted([home.resident_id, other.id])

    # Supervisors plan a municipality; an operator may not; another municipality is not theirs.
    assert (await operator.post(url, json=body)).status_code == 403
    away = f"/api/registry/municipalities/{centre.away.municipality_id}/welfare-calls"
    assert (await supervisor.post(away, json=body)).status_code == 403
    # A municipality's own local time when the time has no zone (Warsaw is UTC+1 in December).
    day = due_at.astimezone(WARSAW).date()
    local = await (await centre.as_("administrator")).post(
        away, json={"due_at": f"{day.isoformat()}T10:00", "reason": "other"}
    )
    assert local.json() == {"created": 1}
    async with centre.sessions() as session:
        [call] = (
            await session.execute(select(WelfareCall).where(WelfareCall.resident_id == centre.away.resident_id))
        ).scalars()
        assert call.due_at == datetime.combine(day, time(10), WARSAW)


async def test_no_answer_twice_raises_one_alarm_and_a_weekly_call_plans_the_next(centre: Centre) -> None:
    due_at = _to_morning(centre) + timedelta(minutes=10)
    operator = await centre.as_("operator")
    home = centre.home.resident_id
    call = (await _plan(operator, home, due_at, "weekly", repeat_weekly=True, note="Cotygodniowa")).json()

    centre.clock.advance(15 * 60)
    first = await _outcome(operator, call["id"], "no_answer", "dzwoniłam dwa razy")
    assert first.status_code == 200, first.text
    recorded = first.json()
    assert recorded["alarm_id"] is None
    assert recorded["retry_id"] is not None
    assert recorded["next_id"] is not None
    # The outcome is recorded once: a second answer is a conflict.
    assert (await _outcome(operator, call["id"], "reached")).status_code == 409

    async with centre.sessions() as session:
        retry = await session.get(WelfareCall, recorded["retry_id"])
        next_week = await session.get(WelfareCall, recorded["next_id"])
        assert retry is not None
        assert next_week is not None
        assert (retry.attempt, retry.due_at, retry.repeat_weekly) == (
            2,
            centre.clock.now() + timedelta(minutes=30),
            False,
        )
        assert (next_week.attempt, next_week.due_at, next_week.repeat_weekly) == (1, due_at + timedelta(days=7), True)
        assert next_week.note == "Cotygodniowa"
    assert await _welfare_alarms(centre, home) == []
    # The retry is in the shift's list; next week's is not.
    assert [c["id"] for c in await _due(operator)] == [recorded["retry_id"]]

    centre.clock.advance(30 * 60)
    second = await _outcome(operator, recorded["retry_id"], "no_answer")
    assert second.status_code == 200, second.text
    alarm_id = second.json()["alarm_id"]
    assert (second.json()["retry_id"], second.json()["next_id"]) == (None, None)
    [alarm] = await _welfare_alarms(centre, home)
    assert (alarm.id, alarm.status, alarm.priority, alarm.band_id) == (alarm_id, "raised", 3, centre.home.band_id)
    async with centre.sessions() as session:
        row = (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalar_one()
        assert row.policy["name"] == "welfare_call"
    [raised] = await centre.events(alarm_id)
    assert (raised.type, raised.actor_type) == ("raised", "staff")
    assert (raised.detail["reason"], raised.detail["outcome"]) == ("welfare_call", "no_answer")
    # The operator's queue has it, with the timeline saying why.
    detail = (await operator.get(f"/api/alarms/{alarm_id}")).json()
    assert "Rozmowa kontrolna (cotygodniowa): mieszkaniec nie odbiera (2. próba) — Ola Nowicka" in str(detail)
    assert await _due(operator) == []


async def test_a_needed_visit_raises_an_alarm_at_once_and_a_second_joins_it(centre: Centre) -> None:
    now = _to_morning(centre)
    operator = await centre.as_("operator")
    supervisor = await centre.as_("supervisor")
    home = centre.home.resident_id
    call = (await _plan(supervisor, home, now, "discharge", note="po wypisie 2.12")).json()
    other = (await _plan(supervisor, home, now + timedelta(hours=1), "other")).json()

    # Why a visit is needed is the alarm's first line: a note is required.
    bare = await _outcome(operator, call["id"], "needs_visit")
    assert bare.status_code == 422
    assert bare.json()["detail"][0]["loc"] == ["body", "note"]

    visit = await _outcome(operator, call["id"], "needs_visit", "Ma gorączkę, prosi o lekarza")
    assert visit.status_code == 200, visit.text
    alarm_id = visit.json()["alarm_id"]
    [alarm] = await _welfare_alarms(centre, home)
    assert alarm.id == alarm_id
    async with centre.sessions() as session:
        assert (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalar_one()
        done = await session.get(WelfareCall, call["id"])
        assert done is not None
        assert (done.outcome, done.alarm_id) == ("needs_visit", alarm_id)

    # While that alarm is open, another call needing a visit joins it instead of raising a second.
    joined = await _outcome(supervisor, other["id"], "needs_visit", "Nadal gorączka")
    assert joined.json()["alarm_id"] == alarm_id
    assert len(await _welfare_alarms(centre, home)) == 1
    events: list[AlarmEvent] = await centre.events(alarm_id)
    assert [e.type for e in events] == ["raised", "note"]
    assert events[1].detail["action"] == "welfare_call"

    reached = (await _plan(operator, home, now + timedelta(hours=2), "weekly")).json()
    answer = await _outcome(operator, reached["id"], "reached", "Wszystko dobrze")
    assert answer.json() == {"call_id": reached["id"], "alarm_id": None, "retry_id": None, "next_id": None}


async def test_a_planned_call_is_removed_a_done_one_stays(centre: Centre) -> None:
    now = _to_morning(centre)
    technician = await centre.as_("technician")
    operator = await centre.as_("operator")
    home = centre.home.resident_id
    planned = (await _plan(technician, home, now + timedelta(hours=1))).json()
    done = (await _plan(technician, home, now + timedelta(hours=1), "birthday")).json()
    assert (await _outcome(operator, done["id"], "reached")).status_code == 200

    assert (await technician.delete(f"/api/welfare-calls/{planned['id']}")).status_code == 204
    assert (await technician.delete(f"/api/welfare-calls/{planned['id']}")).status_code == 404
    assert (await technician.delete(f"/api/welfare-calls/{done['id']}")).status_code == 409
    listed = (await technician.get(f"/api/registry/residents/{home}/welfare-calls")).json()
    assert [(c["id"], c["outcome"], c["done_by_name"]) for c in listed] == [(done["id"], "reached", "Ola Nowicka")]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"due_at": "jutro", "reason": "weekly"}, "due_at", "nieprawidłowa data i godzina"),
        ({"due_at": "SOON", "reason": "monthly"}, "reason", "niedozwolona wartość"),
        ({"reason": "weekly"}, "due_at", "pole wymagane"),
        ({"due_at": "SOON", "reason": "weekly", "note": "x" * 2001}, "note", "najwyżej 2000"),
        ({"due_at": "SOON", "reason": "weekly", "who": 1}, "who", "nieznane pole"),
        ({"due_at": "PAST", "reason": "weekly"}, "due_at", "w przeszłości"),
        ({"due_at": "FAR", "reason": "weekly"}, "due_at", "dalej niż za rok"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_in_polish(
    centre: Centre, body: dict[str, Any], field: str, message: str
) -> None:
    supervisor = await centre.as_("supervisor")
    now = centre.clock.now()
    times = {"PAST": now - timedelta(days=2), "FAR": now + timedelta(days=400), "SOON": now + timedelta(hours=1)}
    if body.get("due_at") in times:
        body = {**body, "due_at": _iso(times[body["due_at"]])}
    for url in (
        f"/api/registry/residents/{centre.home.resident_id}/welfare-calls",
        f"/api/registry/municipalities/{centre.home.municipality_id}/welfare-calls",
    ):
        response = await supervisor.post(url, json=body)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"][-1] == field
        assert message in error["msg"]
    assert (await supervisor.get("/api/welfare-calls/due", params={"hours": 0})).status_code == 422
    call = (await _plan(supervisor, centre.home.resident_id, centre.clock.now())).json()
    wrong = await _outcome(supervisor, call["id"], "maybe")
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "outcome"]
