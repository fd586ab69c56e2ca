"""Action plans: set in the registry (a resident's own, a municipality's default), followed on an
alarm as a checklist whose every tick is a timeline entry."""

# ruff: noqa: F811 - `centre` is the alarm API tests' fixture, imported so pytest finds it here

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry.model import Contact
from tests.test_console_alarms_api import Centre, centre  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.asyncio


async def _contact_id(centre: Centre) -> int:
    async with centre.sessions() as session:
        contact = (
            await session.execute(Contact.__table__.select().where(Contact.resident_id == centre.home.resident_id))
        ).first()
        assert contact is not None
        return int(contact.id)


async def test_a_resident_plan_overrides_the_municipality_default_until_it_is_emptied(centre: Centre) -> None:
    supervisor = await centre.as_("supervisor")
    technician = await centre.as_("technician")
    home = centre.home
    default = [{"kind": "call_resident"}, {"kind": "call_key_holder"}, {"kind": "emergency"}]
    response = await supervisor.put(
        f"/api/registry/municipalities/{home.municipality_id}/plan", json={"steps": default}
    )
    assert response.status_code == 200, response.text
    assert [s["kind"] for s in response.json()["steps"]] == ["call_resident", "call_key_holder", "emergency"]

    plan = (await technician.get(f"/api/registry/residents/{home.resident_id}/plan")).json()
    assert plan["source"] == "municipality"

    own = [
        {"kind": "instruction", "text": "Wnuczka ma klucz, mieszka piętro niżej"},
        {"kind": "call_contact", "contact_id": await _contact_id(centre)},
        {"kind": "medical"},
    ]
    response = await technician.put(f"/api/registry/residents/{home.resident_id}/plan", json={"steps": own})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "resident"
    assert [(s["position"], s["kind"]) for s in body["steps"]] == [
        (1, "instruction"),
        (2, "call_contact"),
        (3, "medical"),
    ]

    response = await technician.put(f"/api/registry/residents/{home.resident_id}/plan", json={"steps": []})
    assert response.json()["source"] == "municipality"


async def test_who_may_edit_plans(centre: Centre) -> None:
    home = centre.home
    steps = {"steps": [{"kind": "call_resident"}]}
    operator = await centre.as_("operator")
    assert (await operator.put(f"/api/registry/residents/{home.resident_id}/plan", json=steps)).status_code == 403
    assert (await operator.get(f"/api/registry/residents/{home.resident_id}/plan")).status_code == 200
    technician = await centre.as_("technician")
    assert (
        await technician.put(f"/api/registry/municipalities/{home.municipality_id}/plan", json=steps)
    ).status_code == 403
    stranger = await centre.as_("stranger")
    assert (await stranger.get(f"/api/registry/residents/{home.resident_id}/plan")).status_code == 403
    administrator = await centre.as_("administrator")
    assert (await administrator.put(f"/api/registry/residents/{home.resident_id}/plan", json=steps)).status_code == 200


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        ([{"kind": "call_resident"}, {"kind": "call_contact"}], "steps.1.contact_id", "wybierz osobę"),
        ([{"kind": "instruction", "text": "   "}], "steps.0.text", "nie może być puste"),
    ],
)
async def test_a_bad_plan_is_refused_with_the_step_named(
    centre: Centre, steps: list[dict[str, object]], field: str, words: str
) -> None:
    technician = await centre.as_("technician")
    response = await technician.put(f"/api/registry/residents/{centre.home.resident_id}/plan", json={"steps": steps})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert words in error["msg"]


async def test_a_plan_names_only_the_residents_own_contacts(centre: Centre) -> None:
    async with centre.sessions() as session:
        found = await session.execute(select(Contact.id).where(Contact.resident_id == centre.away.resident_id))
        theirs = found.scalar_one()
    administrator = await centre.as_("administrator")
    response = await administrator.put(
        f"/api/registry/residents/{centre.home.resident_id}/plan",
        json={"steps": [{"kind": "call_contact", "contact_id": theirs}]},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "steps.0.contact_id"]
    supervisor = await centre.as_("supervisor")
    response = await supervisor.put(
        f"/api/registry/municipalities/{centre.home.municipality_id}/plan",
        json={"steps": [{"kind": "call_contact", "contact_id": theirs}]},
    )
    assert response.status_code == 422
    assert "osoby z kluczem" in response.json()["detail"][0]["msg"]
    response = await supervisor.put(
        f"/api/registry/municipalities/{centre.home.municipality_id}/plan", json={"steps": [{"kind": "teleport"}]}
    )
    assert response.status_code == 422


async def test_the_operator_follows_the_plan_and_each_tick_is_on_the_timeline(centre: Centre) -> None:
    technician = await centre.as_("technician")
    contact_id = await _contact_id(centre)
    steps = [{"kind": "call_resident"}, {"kind": "call_contact", "contact_id": contact_id}, {"kind": "key_safe"}]
    assert (
        await technician.put(f"/api/registry/residents/{centre.home.resident_id}/plan", json={"steps": steps})
    ).status_code == 200
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{alarm}/claim")).status_code == 200

    plan = (await operator.get(f"/api/alarms/{alarm}/plan")).json()
    assert plan["source"] == "resident"
    first, second, third = plan["steps"]
    assert (first["label"], first["call_name"]) == ("Zadzwoń do mieszkańca", "Helena Kowalska")
    assert (second["label"], second["call_name"], second["call_phone"]) == (
        "Zadzwoń do: Anna Kowalska",
        "Anna Kowalska",
        "+48601234567",
    )
    assert third["call_phone"] is None
    assert all(step["state"] is None for step in plan["steps"])

    tick = await operator.post(f"/api/alarms/{alarm}/plan/steps/{first['id']}", json={"status": "skipped"})
    assert tick.status_code == 201, tick.text
    tick = await operator.post(
        f"/api/alarms/{alarm}/plan/steps/{second['id']}", json={"status": "done", "outcome": "jedzie, 15 min"}
    )
    assert tick.status_code == 201, tick.text

    plan = (await operator.get(f"/api/alarms/{alarm}/plan")).json()
    states = [(s["state"] or {}).get("status") for s in plan["steps"]]
    assert states == ["skipped", "done", None]
    assert plan["steps"][1]["state"]["outcome"] == "jedzie, 15 min"

    timeline = [entry["text"] for entry in (await operator.get(f"/api/alarms/{alarm}")).json()["timeline"]]
    assert "Plan, krok 1: Zadzwoń do mieszkańca — pominięte — Ola Nowicka" in timeline
    assert "Plan, krok 2: Zadzwoń do: Anna Kowalska — zrobione: jedzie, 15 min — Ola Nowicka" in timeline

    # Another resident's step, a technician, a closed alarm: refused.
    away_alarm = await centre.raise_alarm(centre.away)
    stranger = await centre.as_("stranger")
    response = await stranger.post(f"/api/alarms/{away_alarm}/plan/steps/{third['id']}", json={"status": "done"})
    assert response.status_code == 404
    response = await technician.post(f"/api/alarms/{alarm}/plan/steps/{third['id']}", json={"status": "done"})
    assert response.status_code == 403
    closed = await operator.post(
        f"/api/alarms/{alarm}/resolve", json={"outcome": "resident_ok_after_call", "note": "wszystko dobrze"}
    )
    assert closed.status_code == 200, closed.text
    response = await operator.post(f"/api/alarms/{alarm}/plan/steps/{third['id']}", json={"status": "done"})
    assert response.status_code == 409


async def test_an_alarm_of_a_resident_without_any_plan_has_an_empty_checklist(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    assert (await operator.get(f"/api/alarms/{alarm}/plan")).json() == {"source": "none", "steps": []}
