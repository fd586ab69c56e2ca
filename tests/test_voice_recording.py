"""Call recording under RODO, end to end: the real `twilio` library places a recorded call at the fake
Twilio, the fake sends its signed RecordingStatusCallback to the console (uvicorn), a supervisor (and
nobody else) plays the recording, and the recording leaves the fake again after its retention or
when its resident is erased. Consent is recorded on the resident's card and is in their export."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center import gdpr
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmEvent, AlarmKind, AlarmStatus
from alarm_center.live import AlarmFeed
from alarm_center.notify.metrics import WEBHOOKS
from alarm_center.voice import recording
from alarm_center.voice.model import CallDirection, CallStatus, CallTarget, VoiceCall
from alarm_center.voice.telephone import OfflineTelephone
from alarm_center.voice.twilio_telephone import TwilioTelephone
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import VoiceSettings
from registry import service as registry
from registry.model import Band, Municipality, Resident, StaffUser
from simulator.fake_twilio import FakeTwilio
from simulator.fake_twilio.records import CallbackResult
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    # twilio 9.13 still hands aiohttp 3.14 a BasicAuth; not ours to fix.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://alarm.opaska.example"
CENTRE = "+48221234567"
BAND_SIM = "+48500100200"
OPERATOR_PHONE = "+48603000001"
# The callee talks this long, then hangs up: the recording's duration.
TALK_S = 20


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio
    telephone: TwilioTelephone
    voice: VoiceSettings
    seeded: SeededBand
    console_url: str

    async def alarm(self, *, resident_id: int | None, municipality_id: int) -> int:
        async with self.sessions() as session, session.begin():
            alarm = Alarm(
                municipality_id=municipality_id,
                resident_id=resident_id,
                band_id=self.seeded.band_id if resident_id == self.seeded.resident_id else None,
                kind=AlarmKind.SOS.value,
                priority=int(PRIORITY_BY_KIND[AlarmKind.SOS]),
                status=AlarmStatus.RAISED.value,
                is_test=False,
                raised_at=self.clock.now(),
                repeat_count=0,
                note="",
            )
            session.add(alarm)
            await session.flush()
            return alarm.id

    async def consent(self, resident_id: int, given: bool) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Resident)
                .where(Resident.id == resident_id)
                .values(call_recording_consent_at=self.clock.now() if given else None)
            )

    async def recorded_call(self, alarm_id: int) -> VoiceCall:
        """A call about the alarm recorded at the fake: placed by the real library with record=True,
        answered by the band, over after TALK_S; the fake's recording callback reaches the console."""
        self.fake.phone(BAND_SIM).script("answer", after=1, hang_up_after=TALK_S)
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            call = VoiceCall(
                alarm_id=alarm_id,
                direction=CallDirection.OUTBOUND,
                target=CallTarget.BAND,
                target_id=self.seeded.band_id,
                number=BAND_SIM,
                room=f"alarm-{alarm_id}",
                status=CallStatus.RINGING,
                created_at=now,
                updated_at=now,
            )
            session.add(call)
            await session.flush()
            call_id = call.id
        created = await self.fake.client().calls.create_async(
            to=BAND_SIM,
            from_=CENTRE,
            twiml='<Response><Pause length="120"/></Response>',
            record=True,
            recording_status_callback=f"{PUBLIC}/twilio/voice/calls/{call_id}/recording",
        )
        async with self.sessions() as session, session.begin():
            await session.execute(update(VoiceCall).where(VoiceCall.id == call_id).values(far_call_sid=created.sid))
        await self.fake.settle()
        await self.fake.advance(1 + TALK_S + 1)
        await self.fake.settle()
        return await self.call(call_id)

    async def call(self, call_id: int) -> VoiceCall:
        async with self.sessions() as session:
            row = await session.get(VoiceCall, call_id)
            assert row is not None
            return row

    async def call_events(self, alarm_id: int) -> list[AlarmEvent]:
        async with self.sessions() as session:
            query = select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "call")
            return list((await session.execute(query.order_by(AlarmEvent.id))).scalars())

    @contextlib.asynccontextmanager
    async def staff(self, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, StaffMember]]:
        """A console client logged in as a new member of staff of the resident's municipality."""
        member = await create_staff(
            self.sessions, self.clock, role=role, municipality_ids=[self.seeded.municipality_id]
        )
        async with httpx.AsyncClient(base_url=self.console_url) as http:
            await log_in(http, member)
            yield http, member


async def _municipality_code(sessions: async_sessionmaker[AsyncSession], seeded: SeededBand) -> str:
    async with sessions() as session:
        resident = await session.get(Resident, seeded.resident_id)
        assert resident is not None
        municipality = await session.get(Municipality, resident.municipality_id)
        assert municipality is not None
        return municipality.code


@pytest_asyncio.fixture
async def world(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[World]:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Helena")
    voice = VoiceSettings(record_municipalities=[await _municipality_code(sessions, seeded)])
    fake = FakeTwilio(phone_number=CENTRE, now=clock.now)
    async with fake:
        telephone = TwilioTelephone(fake.client(), from_number=CENTRE, timeout_s=5)
        hooks = TwilioHooks(fake.auth_token, PUBLIC, clock)
        context = ConsoleContext(
            sessions, AlarmFeed(sessions), run_feed=False, twilio_hooks=hooks, telephone=telephone, voice=voice
        )
        app = create_app(context, clock=clock)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "the console did not start"
            await asyncio.sleep(0.01)
        fake.url_map[PUBLIC] = f"http://127.0.0.1:{port}"
        try:
            yield World(sessions, clock, fake, telephone, voice, seeded, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


def _recording_callbacks(fake: FakeTwilio) -> list[CallbackResult]:
    return [c for c in fake.callbacks if c.url.endswith("/recording")]


# -- who may be recorded ---------------------------------------------------------------------------------------


async def test_recording_allowed_only_in_a_listed_municipality_with_the_residents_consent(world: World) -> None:
    seeded = world.seeded
    theirs = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
    unknown_caller = await world.alarm(resident_id=None, municipality_id=seeded.municipality_id)
    listed, unlisted = world.voice, VoiceSettings(record_municipalities=["some-other-gmina"])
    nowhere = VoiceSettings()

    async def allowed(alarm_id: int, voice: VoiceSettings) -> bool:
        async with world.sessions() as session:
            return await recording.recording_allowed(session, alarm_id=alarm_id, voice=voice)

    table = []
    for consent in (False, True):
        await world.consent(seeded.resident_id, consent)
        for name, voice in (("listed", listed), ("unlisted", unlisted), ("nowhere", nowhere)):
            table.append((consent, name, await allowed(theirs, voice), await allowed(unknown_caller, voice)))
    assert table == [
        (False, "listed", False, False),
        (False, "unlisted", False, False),
        (False, "nowhere", False, False),
        (True, "listed", True, False),  # only here: listed municipality and consent; never without a resident
        (True, "unlisted", False, False),
        (True, "nowhere", False, False),
    ]


# -- the callback ------------------------------------------------------------------------------------------


async def test_the_recording_callback_is_recorded_once_and_replays_change_nothing(world: World) -> None:
    seeded = world.seeded
    await world.consent(seeded.resident_id, True)
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)

    call = await world.recorded_call(alarm_id)

    [made] = world.fake.recordings
    assert (call.recording_sid, call.recording_duration_s, call.recording_deleted_at) == (made.sid, TALK_S, None)
    [callback] = _recording_callbacks(world.fake)
    assert callback.status == 200
    events = await world.call_events(alarm_id)
    assert [e.detail for e in events] == [
        {
            "call_id": call.id,
            "direction": "outbound",
            "target": "band",
            "target_id": seeded.band_id,
            "event": "recording",
            "duration_s": TALK_S,
        }
    ]
    assert events[0].actor_type == "system"
    # The URL of the audio is nowhere on the timeline.
    assert "http" not in str(events[0].detail)

    replayed = await world.fake.replay(callback)
    assert replayed.status == 200
    assert len(await world.call_events(alarm_id)) == 1
    assert (await world.call(call.id)).recording_sid == made.sid
    assert world.fake.recording(made.sid) is not None  # a replay is not mistaken for a second recording

    forbidden = WEBHOOKS.labels("voice_recording", "forbidden")
    before = forbidden._value.get()
    forged = await world.fake.replay(callback, sign_with="not-the-auth-token")
    unsigned = await world.fake.replay(callback, signed=False)
    assert (forged.status, unsigned.status) == (403, 403)
    assert forbidden._value.get() == before + 2
    assert len(await world.call_events(alarm_id)) == 1


async def test_a_recording_nobody_consented_to_is_deleted_at_once(world: World) -> None:
    seeded = world.seeded
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)

    call = await world.recorded_call(alarm_id)  # no consent on the card

    [made] = world.fake.recordings
    assert made.deleted
    assert call.recording_deleted_at is not None
    events = [e.detail["event"] for e in await world.call_events(alarm_id)]
    assert events == ["recording", "recording_deleted"]
    assert (await world.call_events(alarm_id))[-1].detail["why"] == "no_consent"


# -- playback ----------------------------------------------------------------------------------------------


async def test_only_supervisors_play_a_recording_never_cached_and_every_playback_audited(world: World) -> None:
    seeded = world.seeded
    await world.consent(seeded.resident_id, True)
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
    call = await world.recorded_call(alarm_id)
    url = f"/api/alarms/{alarm_id}/calls/{call.id}/recording"

    for role in ("operator", "technician"):
        async with world.staff(role) as (http, _):
            refused = await http.get(url)
            assert refused.status_code == 403, (role, refused.text)
    assert [e.detail["event"] for e in await world.call_events(alarm_id)] == ["recording"]

    async with world.staff("supervisor") as (http, supervisor):
        played = await http.get(url)
        assert played.status_code == 200, played.text
        assert played.content[:4] == b"RIFF"
        assert played.headers["content-type"] == "audio/wav"
        assert played.headers["cache-control"] == "no-store"
        missing = await http.get(f"/api/alarms/{alarm_id}/calls/{call.id + 1000}/recording")
        assert missing.status_code == 404

    events = await world.call_events(alarm_id)
    assert [e.detail["event"] for e in events] == ["recording", "recording_played"]
    assert (events[-1].actor_type, events[-1].actor_id) == ("staff", supervisor.id)
    assert events[-1].detail == {
        "call_id": call.id,
        "direction": "outbound",
        "target": "band",
        "target_id": seeded.band_id,
        "event": "recording_played",
    }


# -- retention and erasure ------------------------------------------------------------------------------------


async def test_retention_deletes_old_recordings_at_the_provider_and_keeps_newer_ones(world: World) -> None:
    seeded = world.seeded
    await world.consent(seeded.resident_id, True)
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
    old = await world.recorded_call(alarm_id)
    world.clock.advance(timedelta(days=world.voice.recording_retention_days - 1).total_seconds())
    newer = await world.recorded_call(alarm_id)
    world.clock.advance(timedelta(days=2).total_seconds())

    # Twilio unreachable (test mode here): nothing is lost, nothing recorded as deleted.
    offline = await recording.sweep_recordings(world.sessions, OfflineTelephone(), world.clock, world.voice)
    assert (offline.deleted, offline.failed) == (0, 1)
    assert (await world.call(old.id)).recording_deleted_at is None

    swept = await recording.sweep_recordings(world.sessions, world.telephone, world.clock, world.voice)
    assert (swept.deleted, swept.failed) == (1, 0)
    assert world.fake.recording(old.recording_sid or "") is None
    assert world.fake.recording(newer.recording_sid or "") is not None
    assert (await world.call(old.id)).recording_deleted_at == world.clock.now()
    assert (await world.call(newer.id)).recording_deleted_at is None
    deleted = [e for e in await world.call_events(alarm_id) if e.detail["event"] == "recording_deleted"]
    assert [(e.detail["call_id"], e.detail["why"]) for e in deleted] == [(old.id, "retention")]

    again = await recording.sweep_recordings(world.sessions, world.telephone, world.clock, world.voice)
    assert (again.deleted, again.failed) == (0, 0)

    async with world.staff("supervisor") as (http, _):
        gone = await http.get(f"/api/alarms/{alarm_id}/calls/{old.id}/recording")
        assert gone.status_code == 410


async def test_erasure_blanks_the_numbers_and_deletes_the_recordings_even_with_twilio_away(world: World) -> None:
    seeded = world.seeded
    await world.consent(seeded.resident_id, True)
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
    call = await world.recorded_call(alarm_id)

    async with world.sessions() as session, session.begin():
        await gdpr.erase_resident(session, world.clock, resident_id=seeded.resident_id)
    erased = await world.call(call.id)
    assert erased.number == ""
    assert erased.recording_deleted_at is None
    async with world.sessions() as session:
        assert not await recording.recording_allowed(session, alarm_id=alarm_id, voice=world.voice)

    # Twilio away at the moment of erasure: the erasure stands, the deletion waits, and why is recorded.
    pending = await recording.delete_erased_recordings(
        world.sessions, OfflineTelephone(), world.clock, resident_id=seeded.resident_id
    )
    assert (pending.deleted, pending.failed) == (0, 1)
    assert world.fake.recording(call.recording_sid or "") is not None
    [waiting] = [e for e in await world.call_events(alarm_id) if e.detail["event"] == "recording_delete_pending"]
    assert waiting.detail["why"] == "erasure"
    assert "zadzwoń ręcznie" in waiting.detail["error"]

    # The engine's sweep deletes it next time, long before any retention.
    swept = await recording.sweep_recordings(world.sessions, world.telephone, world.clock, world.voice)
    assert (swept.deleted, swept.failed) == (1, 0)
    assert world.fake.recording(call.recording_sid or "") is None
    done = [e for e in await world.call_events(alarm_id) if e.detail["event"] == "recording_deleted"]
    assert [e.detail["why"] for e in done] == ["erasure"]
    assert (await world.call(call.id)).recording_deleted_at is not None


async def test_erasure_deletes_at_once_when_twilio_answers(world: World) -> None:
    seeded = world.seeded
    await world.consent(seeded.resident_id, True)
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
    call = await world.recorded_call(alarm_id)
    async with world.sessions() as session, session.begin():
        await gdpr.erase_resident(session, world.clock, resident_id=seeded.resident_id)

    result = await recording.delete_erased_recordings(
        world.sessions, world.telephone, world.clock, resident_id=seeded.resident_id
    )

    assert (result.deleted, result.failed) == (1, 0)
    assert world.fake.recording(call.recording_sid or "") is None
    # The call's events keep their codes through the erasure's scrubbing (no number, no name in them).
    assert [e.detail["event"] for e in await world.call_events(alarm_id)] == ["recording", "recording_deleted"]


# -- consent on the resident's card ------------------------------------------------------------------------------


async def test_supervisors_record_and_withdraw_consent_and_the_export_shows_it(world: World) -> None:
    seeded = world.seeded
    url = f"/api/registry/residents/{seeded.resident_id}/call-recording-consent"

    async with world.staff("operator") as (http, _):
        refused = await http.put(url, json={"consent": True})
        assert refused.status_code == 403

    async with world.staff("supervisor") as (http, _):
        given = await http.put(url, json={"consent": True, "signed_on": "2026-11-30"})
        assert given.status_code == 200, given.text
        assert given.json() == {
            "resident_id": seeded.resident_id,
            "call_recording_consent_at": "2026-11-30T12:00:00Z",
            "municipality_records_calls": True,
        }
        card = (await http.get(f"/api/registry/residents/{seeded.resident_id}")).json()
        assert card["resident"]["call_recording_consent_at"] == "2026-11-30T12:00:00Z"

        future = (world.clock.now() + timedelta(days=3)).date().isoformat()
        too_early = await http.put(url, json={"consent": True, "signed_on": future})
        assert too_early.status_code == 422
        assert too_early.json()["detail"][0]["loc"] == ["body", "signed_on"]

        alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
        call = await world.recorded_call(alarm_id)
        exported = (await http.get(f"/api/registry/residents/{seeded.resident_id}/export")).json()
        assert exported["resident"]["call_recording_consent_at"].startswith("2026-11-30T12:00:00")
        [alarm] = [a for a in exported["alarms"] if a["id"] == alarm_id]
        [exported_call] = alarm["calls"]
        assert (exported_call["id"], exported_call["recording_held"]) == (call.id, True)
        assert "recording_sid" not in exported_call

        withdrawn = await http.put(url, json={"consent": False})
        assert withdrawn.status_code == 200
        assert withdrawn.json()["call_recording_consent_at"] is None
        exported = (await http.get(f"/api/registry/residents/{seeded.resident_id}/export")).json()
        assert exported["resident"]["call_recording_consent_at"] is None

    async with world.sessions() as session:
        assert not await recording.recording_allowed(session, alarm_id=alarm_id, voice=world.voice)


async def test_a_new_municipality_without_recording_says_so(world: World) -> None:
    async with world.sessions() as session, session.begin():
        other = await registry.create_municipality(session, world.clock, code=f"m-{uuid.uuid4().hex[:6]}", name="Inna")
        resident = await registry.create_resident(
            session, world.clock, municipality_id=other.id, first_name="Jan", last_name="Nowak"
        )
    member = await create_staff(world.sessions, world.clock, role="supervisor", municipality_ids=[other.id])
    async with httpx.AsyncClient(base_url=world.console_url) as http:
        await log_in(http, member)
        given = await http.put(f"/api/registry/residents/{resident.id}/call-recording-consent", json={"consent": True})
        assert given.status_code == 200, given.text
        assert given.json()["municipality_records_calls"] is False
        assert given.json()["call_recording_consent_at"] is not None


# -- end to end with the operator's call from the alarm page -------------------------------------------------


async def test_an_operators_call_to_a_consenting_resident_is_recorded_and_played(world: World) -> None:
    seeded = world.seeded
    await world.consent(seeded.resident_id, True)
    async with world.sessions() as session, session.begin():
        band = await session.get(Band, seeded.band_id)
        assert band is not None
        band.sim_phone = BAND_SIM
    alarm_id = await world.alarm(resident_id=seeded.resident_id, municipality_id=seeded.municipality_id)
    world.fake.phone(OPERATOR_PHONE).script("answer", after=2)
    world.fake.phone(BAND_SIM).script("answer", after=3, hang_up_after=TALK_S)

    async with world.staff("operator") as (http, operator):
        async with world.sessions() as session, session.begin():
            staff = await session.get(StaffUser, operator.id)
            assert staff is not None
            staff.phone = OPERATOR_PHONE
        placed = await http.post(f"/api/alarms/{alarm_id}/calls", json={"target": "band", "target_id": None})
        assert placed.status_code == 201, placed.text
        call_id = placed.json()["id"]
        await world.fake.settle()
        await world.fake.advance(2 + 3 + TALK_S + 2)
        await world.fake.settle()
        # The operator sees that a recording exists, and may not play it.
        view = (await http.get(f"/api/alarms/{alarm_id}")).json()["calls"][0]
        assert (view["id"], view["recording"]) == (call_id, True)
        assert (await http.get(f"/api/alarms/{alarm_id}/calls/{call_id}/recording")).status_code == 403

    # Only the far leg (the band's) is recorded: one recording, on this call, by its far leg's sid.
    [made] = world.fake.recordings
    row = await world.call(call_id)
    assert made.call_sid == row.far_call_sid
    assert (row.recording_sid, row.recording_duration_s) == (made.sid, TALK_S)
    recorded = [e.detail for e in await world.call_events(alarm_id) if e.detail["event"] == "recording"]
    assert [(d["call_id"], d["duration_s"]) for d in recorded] == [(call_id, TALK_S)]

    async with world.staff("supervisor") as (http, _):
        played = await http.get(f"/api/alarms/{alarm_id}/calls/{call_id}/recording")
        assert played.status_code == 200
        assert played.content[:4] == b"RIFF"
