"""The no-response ladder: the resident cannot be reached; someone with a key goes, or after the
policy's time the operator calls emergency services, records the dispatch and the arrival. Every
rung is on the timeline; dispatches are counted in the monthly report."""

# ruff: noqa: F811 - `centre` is the alarm API tests' fixture, imported so pytest finds it here

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alarm_center.alarms.ladder import Rung, RungRecord, Stage, judge
from alarm_center.reports.monthly import Month, monthly_report
from registry.model import Municipality
from tests.test_console_alarms_api import Centre, centre  # noqa: F401 - the fixture, shared

T0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def _at(minutes: float, rung: Rung) -> RungRecord:
    return RungRecord(rung, T0 + timedelta(minutes=minutes), 1, {})


@pytest.mark.parametrize(
    ("rungs", "minutes_now", "stage", "overdue"),
    [
        ([], 0, Stage.NOT_STARTED, False),
        ([_at(0, Rung.STARTED)], 9.9, Stage.FINDING, False),
        ([_at(0, Rung.STARTED)], 10, Stage.CALL_EMERGENCY, True),
        ([_at(0, Rung.STARTED), _at(2, Rung.NOBODY)], 3, Stage.CALL_EMERGENCY, False),
        ([_at(0, Rung.STARTED), _at(4, Rung.GOING)], 30, Stage.SOMEONE_GOING, False),
        ([_at(0, Rung.STARTED), _at(12, Rung.DISPATCHED)], 13, Stage.DISPATCHED, False),
        ([_at(0, Rung.STARTED), _at(4, Rung.GOING), _at(20, Rung.ARRIVED)], 21, Stage.ARRIVED, False),
        # An ambulance called straight from the call (the resident collapsed while talking).
        ([_at(1, Rung.DISPATCHED)], 2, Stage.DISPATCHED, False),
    ],
)
def test_where_the_ladder_stands(rungs: list[RungRecord], minutes_now: float, stage: Stage, overdue: bool) -> None:
    state = judge(rungs, 600, T0 + timedelta(minutes=minutes_now))
    assert (state.stage, state.overdue) == (stage, overdue)


@pytest.mark.asyncio
async def test_nobody_can_go_so_the_operator_calls_112_and_help_arrives(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{alarm}/claim")).status_code == 200
    ladder = f"/api/alarms/{alarm}/ladder"
    assert (await operator.get(ladder)).json()["stage"] == "not_started"

    # Nothing before the ladder starts but a dispatch: "going" needs "started" first.
    refused = await operator.post(ladder, json={"rung": "going", "who": "Anna Kowalska"})
    assert refused.status_code == 409
    assert refused.json()["detail"][0]["msg"] == "najpierw zapisz brak kontaktu z mieszkańcem"

    started = await operator.post(ladder, json={"rung": "started", "reason": "no_answer", "remark": "3 próby"})
    assert started.status_code == 201, started.text
    state = (await operator.get(ladder)).json()
    assert state["stage"] == "finding"
    assert state["find_s"] == 600
    assert datetime.fromisoformat(state["find_due_at"]) == centre.clock.now() + timedelta(seconds=600)

    # The clock runs past the policy's time with nobody found: the console says call 112.
    centre.clock.advance(601)
    state = (await operator.get(ladder)).json()
    assert (state["stage"], state["overdue"]) == ("call_emergency", True)

    bad = await operator.post(ladder, json={"rung": "dispatched", "service": "taxi"})
    assert bad.status_code == 422
    dispatched = await operator.post(
        ladder, json={"rung": "dispatched", "service": "ambulance", "reference": "ZRM/2026/12/4471"}
    )
    assert dispatched.status_code == 201, dispatched.text
    assert (await operator.get(ladder)).json()["stage"] == "dispatched"
    arrived = await operator.post(ladder, json={"rung": "arrived", "who": "ZRM Wrocław P 01"})
    assert arrived.status_code == 201
    assert (await operator.get(ladder)).json()["stage"] == "arrived"

    texts = [e["text"] for e in (await operator.get(f"/api/alarms/{alarm}")).json()["timeline"]]
    assert "Brak kontaktu z mieszkańcem: mieszkaniec nie odbiera — 3 próby — Ola Nowicka" in texts
    assert "Wezwano: pogotowie (ZRM), nr zgłoszenia ZRM/2026/12/4471 — Ola Nowicka" in texts
    assert "Pomoc na miejscu: ZRM Wrocław P 01 — Ola Nowicka" in texts
    english = [e["text"] for e in (await operator.get(f"/api/alarms/{alarm}?lang=en")).json()["timeline"]]
    assert "Called: ambulance, reference ZRM/2026/12/4471 — Ola Nowicka" in english

    closed = await operator.post(
        f"/api/alarms/{alarm}/resolve", json={"outcome": "forced_entry", "note": "straż otworzyła drzwi"}
    )
    assert closed.status_code == 200, closed.text
    assert (await operator.post(ladder, json={"rung": "nobody"})).status_code == 409

    async with centre.sessions() as session:
        municipality = await session.get(Municipality, centre.home.municipality_id)
        assert municipality is not None
        now = centre.clock.now()
        report = await monthly_report(
            session, municipality_code=municipality.code, month=Month(now.year, now.month), now=now
        )
    assert report.dispatches == {"ambulance": 1, "police": 0, "fire": 0}
    assert report.outcomes["sos"]["forced_entry"] == 1


@pytest.mark.asyncio
async def test_someone_with_a_key_goes(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    ladder = f"/api/alarms/{alarm}/ladder"
    assert (await operator.post(ladder, json={"rung": "started", "reason": "band_silent"})).status_code == 201
    assert (await operator.post(ladder, json={"rung": "started", "reason": "no_answer"})).status_code == 409
    nameless = await operator.post(ladder, json={"rung": "going", "who": "  "})
    assert nameless.status_code == 422
    assert nameless.json()["detail"][0]["loc"] == ["body", "who"]
    going = await operator.post(ladder, json={"rung": "going", "who": "Anna Kowalska (córka)", "eta_min": 15})
    assert going.status_code == 201
    state = (await operator.get(ladder)).json()
    assert state["stage"] == "someone_going"
    assert state["rungs"][1]["detail"] == {
        "who": "Anna Kowalska (córka)",
        "eta_min": 15,
        "note": state["rungs"][1]["detail"]["note"],
    }
    technician = await centre.as_("technician")
    assert (await technician.post(ladder, json={"rung": "nobody"})).status_code == 403
