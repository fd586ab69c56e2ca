"""The operator's call against the fake Twilio's voice model: phones that answer, are busy, do not
answer or fail by script, TwiML followed into the conference, and every leg's status callback sent
by the fake itself. Nothing is driven by hand but the voice clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry.contacts import list_contacts
from tests.test_voice_outbound import ANNA_PHONE, BAND_SIM, OURS, RELATIVE, Centre, running_centre

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    async with running_centre(sessions, clock) as running:
        running.fake.phone(ANNA_PHONE).script("answer", after=2)
        yield running


async def test_sos_call_to_the_band_is_bridged_in_the_alarms_conference(centre: Centre) -> None:
    centre.fake.phone(BAND_SIM).script("answer", after=3, hang_up_after=75)
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "band")
    assert placed.status_code == 201, placed.text
    call_id = placed.json()["id"]

    await centre.fake.advance(2)  # the operator picks up: told whom, into the conference; the band rings
    operator = centre.only_call_to(ANNA_PHONE)
    assert "Łączę z opaską" in " ".join(operator.heard)
    band = centre.only_call_to(BAND_SIM)
    assert band.from_ == OURS
    assert (await centre.row(call_id)).status == "ringing"

    await centre.fake.advance(3)  # the band answers: both in conference alarm-N
    assert (await centre.row(call_id)).status == "in_progress"
    room = centre.fake.conference(f"alarm-{alarm_id}")
    assert room is not None

    await centre.fake.advance(75)  # the band hangs up; the operator's phone is hung up by opaska
    await centre.fake.settle()
    row = await centre.row(call_id)
    assert (row.status, row.duration_s) == ("completed", 75)
    events = await centre.call_events(alarm_id)
    assert [e["event"] for e in events] == ["placed", "operator_answered", "ringing", "answered", "completed"]
    assert events[-1]["duration_s"] == 75
    await centre.fake.wait_for(lambda: operator.status == "completed")
    assert centre.fake.voice_errors == []


@pytest.mark.parametrize(("script", "event"), [("busy", "busy"), ("no-answer", "no_answer"), ("failed", "failed")])
async def test_a_far_end_that_does_not_answer_is_on_the_timeline_and_the_operator_is_released(
    centre: Centre, script: str, event: str
) -> None:
    centre.fake.phone(RELATIVE).script(script, after=2)  # type: ignore[arg-type]
    alarm_id = await centre.sos()
    async with centre.sessions() as session:
        [contact] = await list_contacts(session, resident_id=centre.seeded.resident_id)
    placed = await centre.call(alarm_id, centre.anna, "contact", contact.id)
    assert placed.status_code == 201, placed.text
    await centre.fake.advance(2)
    await centre.fake.advance(40)  # past the far end's ring time (35 s)
    await centre.fake.settle()
    row = await centre.row(placed.json()["id"])
    assert row.status == event
    assert [e["event"] for e in await centre.call_events(alarm_id)][-1] == event
    operator = centre.only_call_to(ANNA_PHONE)
    await centre.fake.wait_for(lambda: operator.status == "completed")


async def test_the_operator_hanging_up_ends_the_call_to_the_band(centre: Centre) -> None:
    centre.fake.phone(BAND_SIM).script("answer", after=1)
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "band")
    await centre.fake.advance(3)
    assert (await centre.row(placed.json()["id"])).status == "in_progress"
    await centre.fake.advance(30)
    await centre.fake.hang_up(centre.only_call_to(ANNA_PHONE).sid)  # the operator puts the phone down
    band = centre.only_call_to(BAND_SIM)
    await centre.fake.wait_for(lambda: band.status == "completed")
    await centre.fake.settle()
    row = await centre.row(placed.json()["id"])
    assert (row.status, row.duration_s) == ("completed", 30)
    assert centre.fake.voice_errors == []
