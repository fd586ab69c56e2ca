"""The fake Twilio's voice model, driven by the real `twilio` library over HTTP, its TwiML fetched from (and its
callbacks signed for) a small aiohttp app standing in for opaska's voice webhooks: calls that ring scripted phones,
conferences, queues, Dial legs, recordings, hang-ups and replays — in virtual seconds, so durations are exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from simulator.fake_twilio import FakeTwilio, VoiceNumber

pytestmark = [
    pytest.mark.asyncio,
    # twilio 9.13 still hands aiohttp 3.14 a BasicAuth; not ours to fix.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://opaska.example"
OURS = "+48221234567"
OPERATOR = "+48600100100"
BAND = "+48600200200"
RELATIVE = "+48600300300"

Reply = str | Callable[[dict[str, str]], str]


@dataclass
class Opaska:
    """Stands in for opaska's voice webhooks: checks each signature over the public URL (403 if wrong), records
    what came, and answers the TwiML set for the path (`twiml[path]`, default an empty <Response/>)."""

    token: str
    twiml: dict[str, Reply] = field(default_factory=dict)
    url: str = ""
    accepted: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        params = {key: str(value) for key, value in (await request.post()).items()}
        public_url = PUBLIC + request.path_qs
        if not RequestValidator(self.token).validate(public_url, params, request.headers.get("X-Twilio-Signature", "")):
            self.refused.append(public_url)
            return web.Response(status=403)
        self.accepted.append((public_url, params))
        reply = self.twiml.get(request.path, "<Response/>")
        text = reply(params) if callable(reply) else reply
        return web.Response(text=text, content_type="text/xml")

    def params(self, path: str) -> list[dict[str, str]]:
        return [p for url, p in self.accepted if url.startswith(PUBLIC + path)]

    def statuses(self, path: str) -> list[str]:
        return [p["CallStatus"] for p in self.params(path)]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(phone_number=OURS) as fake:
        yield fake
        assert fake.voice_errors == []


@pytest_asyncio.fixture
async def opaska(fake: FakeTwilio) -> AsyncIterator[Opaska]:
    app_state = Opaska(fake.auth_token)
    app = web.Application()
    app.router.add_post("/{tail:.*}", app_state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    app_state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    fake.url_map[PUBLIC] = app_state.url
    yield app_state
    await runner.cleanup()


EVERY_EVENT = ["initiated", "ringing", "answered", "completed"]
CONFERENCE = (
    '<Response><Say>Łączę z alarmem</Say><Dial><Conference startConferenceOnEnter="true" endConferenceOnExit="true"'
    ' statusCallback="/twilio/conference?alarm=12" statusCallbackEvent="start end join leave">alarm-12'
    "</Conference></Dial></Response>"
)


async def test_operator_answers_joins_the_alarm_conference_and_the_band_is_added(
    fake: FakeTwilio, opaska: Opaska
) -> None:
    fake.phone(OPERATOR).script("answer", after=3)
    fake.phone(BAND).script("answer", after=5)
    opaska.twiml["/twilio/voice/operator"] = CONFERENCE
    client = fake.client()
    call = await client.calls.create_async(
        to=OPERATOR,
        from_=OURS,
        url=f"{PUBLIC}/twilio/voice/operator?alarm=12",
        status_callback=f"{PUBLIC}/twilio/call-status?leg=operator",
        status_callback_event=EVERY_EVENT,
    )
    await fake.settle()
    assert opaska.statuses("/twilio/call-status?leg=operator") == ["initiated", "ringing"]
    assert fake.conference("alarm-12") is None

    await fake.advance(3)
    [fetched] = opaska.params("/twilio/voice/operator")
    assert (fetched["CallSid"], fetched["From"], fetched["To"]) == (call.sid, OURS, OPERATOR)
    assert (fetched["CallStatus"], fetched["Direction"], fetched["AccountSid"]) == (
        "in-progress",
        "outbound-api",
        fake.account_sid,
    )
    conference = fake.conference("alarm-12")
    assert conference is not None
    assert (conference.status, conference.call_sids, conference.numbers) == ("in-progress", [call.sid], [OPERATOR])
    assert fake.call(call.sid).heard == ["say: Łączę z alarmem"]

    # The operator adds the band to the same call, by the conference's name, as Twilio allows.
    [listed] = await client.conferences.list_async(friendly_name="alarm-12", status="in-progress")
    assert listed.sid == conference.sid
    participant = await client.conferences("alarm-12").participants.create_async(
        from_=OURS,
        to=BAND,
        status_callback=f"{PUBLIC}/twilio/call-status?leg=band",
        status_callback_event=EVERY_EVENT,
    )
    assert participant.conference_sid == conference.sid
    await fake.advance(5)
    assert conference.numbers == [OPERATOR, BAND]
    in_it = await client.conferences(conference.sid).participants.list_async()
    assert sorted(p.call_sid for p in in_it) == sorted([call.sid, participant.call_sid])

    await fake.advance(30)
    await fake.hang_up(call.sid)  # the operator puts the phone down: endConferenceOnExit ends it for the band
    assert conference.status == "completed"
    assert conference.call_sids == []
    assert opaska.statuses("/twilio/call-status?leg=operator") == ["initiated", "ringing", "in-progress", "completed"]
    operator_events = opaska.params("/twilio/call-status?leg=operator")
    assert operator_events[-1]["CallDuration"] == "35"
    assert [p["SequenceNumber"] for p in operator_events] == ["0", "1", "2", "3"]
    assert all(p["Timestamp"] for p in operator_events)
    band = opaska.params("/twilio/call-status?leg=band")
    assert [p["CallStatus"] for p in band] == ["initiated", "ringing", "in-progress", "completed"]
    assert band[-1]["CallDuration"] == "30"
    events = opaska.params("/twilio/conference?alarm=12")
    assert [(e["StatusCallbackEvent"], e.get("CallSid")) for e in events] == [
        ("participant-join", call.sid),
        ("conference-start", None),
        ("participant-join", participant.call_sid),
        ("participant-leave", call.sid),
        ("participant-leave", participant.call_sid),
        ("conference-end", None),
    ]
    assert [int(e["SequenceNumber"]) for e in events] == list(range(6))
    assert events[-1]["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert events[-1]["CallSidEndingConference"] == call.sid
    assert {e["FriendlyName"] for e in events} == {"alarm-12"}
    assert await client.conferences.list_async(friendly_name="alarm-12", status="in-progress") == []
    assert opaska.refused == []


async def test_a_dialled_leg_gets_the_centres_caller_id_and_the_dial_action_its_duration(
    fake: FakeTwilio, opaska: Opaska
) -> None:
    fake.phone(OPERATOR).script("answer", after=3)
    fake.phone(BAND).script("answer", after=4, hang_up_after=25)
    opaska.twiml["/twilio/voice/bridge"] = (
        f'<Response><Dial callerId="{OURS}" action="/twilio/dial-done?alarm=12" timeout="20">'
        f'<Number statusCallback="/twilio/leg-status" statusCallbackEvent="initiated ringing answered completed">'
        f"{BAND}</Number></Dial></Response>"
    )
    opaska.twiml["/twilio/dial-done"] = "<Response><Say>Rozmowa zakończona</Say><Hangup/></Response>"
    client = fake.client()
    call = await client.calls.create_async(
        to=OPERATOR, from_="+48221234568", url=f"{PUBLIC}/twilio/voice/bridge", status_callback=f"{PUBLIC}/twilio/op"
    )
    await fake.advance(3)
    [leg] = fake.legs(parent=call.sid)
    assert (leg.to, leg.from_, leg.direction, leg.parent_call_sid) == (BAND, OURS, "outbound-dial", call.sid)
    assert (await client.calls(leg.sid).fetch_async()).parent_call_sid == call.sid
    await fake.advance(4 + 25)
    leg_events = opaska.params("/twilio/leg-status")
    assert [p["CallStatus"] for p in leg_events] == ["initiated", "ringing", "in-progress", "completed"]
    assert {p["ParentCallSid"] for p in leg_events} == {call.sid}
    assert leg_events[-1]["CallDuration"] == "25"
    [done] = opaska.params("/twilio/dial-done")
    assert (done["DialCallStatus"], done["DialCallSid"], done["DialCallDuration"]) == ("completed", leg.sid, "25")
    assert fake.call(call.sid).heard == ["say: Rozmowa zakończona"]
    [final] = opaska.params("/twilio/op")
    assert (final["CallStatus"], final["CallDuration"]) == ("completed", "29")


@pytest.mark.parametrize(("outcome", "seconds"), [("busy", 2), ("no-answer", 20), ("failed", 0)])
async def test_busy_unanswered_and_failed_legs(fake: FakeTwilio, opaska: Opaska, outcome: str, seconds: int) -> None:
    fake.phone(OPERATOR).script("answer", after=1)
    fake.phone(BAND).script(outcome, after=2)  # type: ignore[arg-type]
    opaska.twiml["/twilio/voice/bridge"] = (
        f'<Response><Dial action="/twilio/dial-done" timeout="20"><Number statusCallback="/twilio/leg-status"'
        f' statusCallbackEvent="initiated ringing answered completed">{BAND}</Number></Dial></Response>'
    )
    client = fake.client()
    call = await client.calls.create_async(to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/voice/bridge")
    await fake.advance(1)
    await fake.advance(seconds)
    [done] = opaska.params("/twilio/dial-done")
    assert (done["DialCallStatus"], done["DialCallDuration"]) == (outcome, "0")
    assert opaska.statuses("/twilio/leg-status")[-1] == outcome
    assert opaska.params("/twilio/leg-status")[-1]["CallDuration"] == "0"
    # The Dial action answered nothing more: the operator's call ends with the TwiML.
    assert fake.call(call.sid).status == "completed"

    # The same phone called straight from the API.
    direct = await client.calls.create_async(
        to=BAND, from_=OURS, url=f"{PUBLIC}/twilio/voice/x", status_callback=f"{PUBLIC}/twilio/direct"
    )
    await fake.advance(60)
    assert opaska.statuses("/twilio/direct") == [outcome]
    assert fake.call(direct.sid).status == outcome
    assert opaska.params("/twilio/voice/x") == []


QUEUE_IN = (
    '<Response><Say>Proszę czekać</Say><Enqueue waitUrl="/twilio/wait" action="/twilio/queue-done?alarm=12">'
    "alarm-12</Enqueue><Say>Do usłyszenia</Say></Response>"
)


@pytest_asyncio.fixture
async def centre_number(fake: FakeTwilio, opaska: Opaska) -> Opaska:
    fake.voice_numbers[OURS] = VoiceNumber(
        voice_url=f"{PUBLIC}/twilio/voice/in", status_callback=f"{PUBLIC}/twilio/in-status"
    )
    opaska.twiml["/twilio/voice/in"] = QUEUE_IN
    opaska.twiml["/twilio/wait"] = '<Response><Play>https://cdn.example/hold.mp3</Play><Pause length="10"/></Response>'
    opaska.twiml["/twilio/queue-done"] = "<Response><Say>Dziękujemy</Say></Response>"
    return opaska


async def test_an_incoming_call_waits_in_the_queue_until_an_operator_dequeues_it(
    fake: FakeTwilio, centre_number: Opaska
) -> None:
    opaska = centre_number
    opaska.twiml["/twilio/voice/answer"] = (
        '<Response><Dial action="/twilio/answered-done"><Queue>alarm-12</Queue></Dial></Response>'
    )
    ringing = await fake.incoming_call(from_=BAND, to=OURS)
    [incoming] = opaska.params("/twilio/voice/in")
    assert (incoming["From"], incoming["To"], incoming["Direction"], incoming["CallStatus"]) == (
        BAND,
        OURS,
        "inbound",
        "ringing",
    )
    queue = fake.queue("alarm-12")
    assert queue is not None
    assert queue.call_sids == [ringing.call.sid]
    assert ringing.heard[:2] == ["say: Proszę czekać", "play: https://cdn.example/hold.mp3"]

    await fake.advance(15)
    waits = opaska.params("/twilio/wait")
    assert [(w["QueuePosition"], w["QueueTime"], w["CurrentQueueSize"]) for w in waits] == [
        ("1", "0", "1"),
        ("1", "10", "1"),
    ]
    client = fake.client()
    [member] = await client.queues(queue.sid).members.list_async()
    assert (member.call_sid, member.position, member.wait_time) == (ringing.call.sid, 1, 15)

    fake.phone(OPERATOR).script("answer", after=2)
    operator = await client.calls.create_async(to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/voice/answer")
    await fake.advance(2)
    assert queue.members == []
    await fake.advance(60)
    await fake.hang_up(operator.sid)

    [left] = opaska.params("/twilio/queue-done")
    assert (left["QueueResult"], left["QueueTime"], left["CallSid"]) == ("bridged", "17", ringing.call.sid)
    [done] = opaska.params("/twilio/answered-done")
    assert (done["DialCallStatus"], done["DialCallSid"], done["DialCallDuration"]) == (
        "completed",
        ringing.call.sid,
        "60",
    )
    # The caller goes on with the action's TwiML (not the verbs after <Enqueue>), then the call ends.
    assert ringing.heard[-1] == "say: Dziękujemy"
    assert "say: Do usłyszenia" not in ringing.heard
    [status] = opaska.params("/twilio/in-status")
    assert (status["CallStatus"], status["CallDuration"], status["Direction"]) == ("completed", "77", "inbound")


async def test_a_caller_who_hangs_up_in_the_queue_leaves_it(fake: FakeTwilio, centre_number: Opaska) -> None:
    ringing = await fake.incoming_call(from_=BAND)
    await ringing.advance(12)
    await ringing.hang_up()
    queue = fake.queue("alarm-12")
    assert queue is not None
    assert queue.members == []
    [left] = centre_number.params("/twilio/queue-done")
    assert (left["QueueResult"], left["QueueTime"]) == ("hangup", "12")
    [status] = centre_number.params("/twilio/in-status")
    assert (status["CallStatus"], status["CallDuration"]) == ("completed", "12")
    assert "say: Dziękujemy" not in ringing.heard  # the action's TwiML is not played to a caller who has gone


async def test_an_operator_waiting_on_an_empty_queue_gets_the_next_caller(
    fake: FakeTwilio, centre_number: Opaska
) -> None:
    centre_number.twiml["/twilio/voice/answer"] = (
        '<Response><Dial timeout="30" action="/twilio/answered-done"><Queue>alarm-12</Queue></Dial></Response>'
    )
    first = await fake.incoming_call(from_=BAND)
    await first.hang_up()  # the queue exists, and is empty again
    fake.phone(OPERATOR).script("answer", after=1)
    await fake.client().calls.create_async(to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/voice/answer")
    await fake.advance(5)
    second = await fake.incoming_call(from_=RELATIVE)
    queue = fake.queue("alarm-12")
    assert queue is not None
    assert queue.members == []
    await fake.advance(10)
    await second.hang_up()
    [done] = centre_number.params("/twilio/answered-done")
    assert (done["DialCallStatus"], done["DialCallSid"], done["DialCallDuration"]) == (
        "completed",
        second.call.sid,
        "10",
    )


async def test_a_forged_incoming_call_is_refused_and_the_caller_hears_an_error(
    fake: FakeTwilio, centre_number: Opaska
) -> None:
    forged = await fake.incoming_call(from_=BAND, sign_with="0" * 32)
    unsigned = await fake.incoming_call(from_=BAND, signed=False)
    assert len(centre_number.refused) == 2
    for ringing in (forged, unsigned):
        assert ringing.call.status == "completed"
        assert any(n.startswith("11200") for n in ringing.call.notifications)
    queue = fake.queue("alarm-12")
    assert queue is None


async def test_recordings_are_called_back_fetched_and_deleted(fake: FakeTwilio, opaska: Opaska) -> None:
    fake.phone(OPERATOR).script("answer", after=2, hang_up_after=10)
    opaska.twiml["/twilio/voice/long"] = '<Response><Pause length="60"/></Response>'
    client = fake.client()
    call = await client.calls.create_async(
        to=OPERATOR,
        from_=OURS,
        url=f"{PUBLIC}/twilio/voice/long",
        record=True,
        recording_status_callback=f"{PUBLIC}/twilio/recording?alarm=12",
    )
    await fake.advance(12)
    [callback] = opaska.params("/twilio/recording")
    assert (callback["CallSid"], callback["RecordingStatus"], callback["RecordingDuration"]) == (
        call.sid,
        "completed",
        "10",
    )
    sid = callback["RecordingSid"]
    assert sid.startswith("RE")
    assert callback["RecordingUrl"] == f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Recordings/{sid}"

    fetched = await client.recordings(sid).fetch_async()
    assert (fetched.call_sid, fetched.duration, fetched.status) == (call.sid, "10", "completed")
    auth = aiohttp.BasicAuth(fake.account_sid, fake.auth_token)
    async with aiohttp.ClientSession(auth=auth) as http:
        async with http.get(callback["RecordingUrl"] + ".mp3") as mp3:
            assert (mp3.status, mp3.content_type) == (200, "audio/mpeg")
        async with http.get(callback["RecordingUrl"] + ".wav") as wav:
            assert wav.status == 200
            assert (await wav.read())[:4] == b"RIFF"
        async with aiohttp.ClientSession() as anonymous, anonymous.get(callback["RecordingUrl"] + ".json") as bare:
            assert bare.status == 401
    assert await client.recordings(sid).delete_async() is True
    with pytest.raises(TwilioRestException) as caught:
        await client.recordings(sid).fetch_async()
    assert caught.value.status == 404


async def test_a_dial_records_from_answer_on_the_parent_call(fake: FakeTwilio, opaska: Opaska) -> None:
    fake.phone(OPERATOR).script("answer", after=1)
    fake.phone(BAND).script("answer", after=3, hang_up_after=20)
    opaska.twiml["/twilio/voice/bridge"] = (
        f'<Response><Dial record="record-from-answer" recordingStatusCallback="/twilio/recording"'
        f' action="/twilio/dial-done"><Number>{BAND}</Number></Dial></Response>'
    )
    call = await fake.client().calls.create_async(to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/voice/bridge")
    await fake.advance(1 + 3 + 20)
    [callback] = opaska.params("/twilio/recording")
    assert (callback["CallSid"], callback["RecordingDuration"], callback["RecordingSource"]) == (
        call.sid,
        "20",
        "DialVerb",
    )
    [done] = opaska.params("/twilio/dial-done")
    assert done["RecordingSid"] == callback["RecordingSid"]


async def test_the_api_hangs_up_a_participant_and_the_conference_goes_on(fake: FakeTwilio, opaska: Opaska) -> None:
    opaska.twiml["/twilio/voice/operator"] = CONFERENCE
    fake.phone(OPERATOR).script("answer", after=1)
    fake.phone(RELATIVE).script("answer", after=1)
    client = fake.client()
    operator = await client.calls.create_async(to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/voice/operator")
    await fake.advance(1)
    relative = await client.conferences("alarm-12").participants.create_async(
        from_=OURS, to=RELATIVE, status_callback=f"{PUBLIC}/twilio/relative"
    )
    await fake.advance(1)
    conference = fake.conference("alarm-12")
    assert conference is not None
    assert conference.numbers == [OPERATOR, RELATIVE]
    await fake.advance(7)
    updated = await client.calls(relative.call_sid).update_async(status="completed")
    assert updated.status == "completed"
    await fake.settle()
    assert conference.numbers == [OPERATOR]
    assert conference.status == "in-progress"
    [final] = opaska.params("/twilio/relative")
    assert (final["CallStatus"], final["CallDuration"]) == ("completed", "7")
    leave = [e for e in opaska.params("/twilio/conference") if e["StatusCallbackEvent"] == "participant-leave"]
    assert [(e["CallSid"], e["ReasonParticipantLeft"]) for e in leave] == [(relative.call_sid, "participant_hung_up")]
    # A phone that rings and is never answered, added to the conference, leaves no participant.
    fake.phone(BAND).script("no-answer")
    unanswered = await client.conferences(conference.sid).participants.create_async(from_=OURS, to=BAND, timeout=15)
    await fake.advance(15)
    assert conference.numbers == [OPERATOR]
    last = opaska.params("/twilio/conference")[-1]
    assert (last["StatusCallbackEvent"], last["CallSid"], last["ParticipantCallStatus"]) == (
        "participant-leave",
        unanswered.call_sid,
        "no-answer",
    )
    await client.calls(operator.sid).update_async(status="completed")
    await fake.settle()
    assert conference.status == "completed"


async def test_a_replayed_status_callback_is_the_same_request_signed_again(fake: FakeTwilio, opaska: Opaska) -> None:
    fake.phone(OPERATOR).script("busy", after=1)
    call = await fake.client().calls.create_async(
        to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/v", status_callback=f"{PUBLIC}/twilio/status?n=1"
    )
    await fake.advance(1)
    [original] = [c for c in fake.callbacks if c.params.get("CallSid") == call.sid]
    again = await fake.replay(original)
    assert again.status == 200
    first, second = opaska.params("/twilio/status?n=1")
    assert first == second
    assert first["CallStatus"] == "busy"
    forged = await fake.replay(original, sign_with="0" * 32)
    assert forged.status == 403


async def test_a_phone_that_rings_is_answered_by_hand_and_keys_are_pressed(fake: FakeTwilio, opaska: Opaska) -> None:
    fake.phone(RELATIVE).script("rings")
    opaska.twiml["/twilio/voice/alert"] = (
        '<Response><Gather numDigits="1" action="/twilio/gather" timeout="10"><Say>Wciśnij 1</Say></Gather>'
        "<Say>Nie wybrano</Say></Response>"
    )
    opaska.twiml["/twilio/gather"] = "<Response><Say>Dziękujemy</Say></Response>"
    client = fake.client()
    await client.calls.create_async(to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/voice/alert")
    ringing = await fake.phone(RELATIVE).expect_call()
    await fake.advance(8)
    twiml = await ringing.answer()
    assert "<Gather" in twiml
    pressed = await ringing.press("1")
    assert pressed.params["Digits"] == "1"
    assert ringing.heard == ["say: Wciśnij 1", "say: Dziękujemy"]
    assert ringing.call.status == "completed"
    assert ringing.call.duration == 0

    # Scripted keys, and a Gather nobody answers goes on to the next verb after its timeout.
    fake.phone(BAND).script("answer", after=1, digits=["2"])
    fake.phone(OPERATOR).script("answer", after=1)
    await client.calls.create_async(to=BAND, from_=OURS, url=f"{PUBLIC}/twilio/voice/alert")
    silent = await client.calls.create_async(to=OPERATOR, from_=OURS, url=f"{PUBLIC}/twilio/voice/alert")
    await fake.advance(11)
    assert [p["Digits"] for p in opaska.params("/twilio/gather")] == ["1", "2"]
    assert fake.call(silent.sid).heard == ["say: Wciśnij 1", "say: Nie wybrano"]


async def test_a_redirected_call_leaves_its_queue(fake: FakeTwilio, centre_number: Opaska) -> None:
    centre_number.twiml["/twilio/voice/closed"] = "<Response><Say>Zamknięte</Say></Response>"
    ringing = await fake.incoming_call(from_=BAND)
    await fake.advance(3)
    client = fake.client()
    queue = fake.queue("alarm-12")
    assert queue is not None
    await client.queues(queue.sid).members("Front").update_async(url=f"{PUBLIC}/twilio/voice/closed")
    await fake.settle()
    assert queue.members == []
    [left] = centre_number.params("/twilio/queue-done")
    assert left["QueueResult"] == "redirected"
    assert ringing.heard[-1] == "say: Zamknięte"
    assert ringing.call.status == "completed"

    # Answered from the console by redirecting the waiting call to a <Dial> of the operator's phone.
    fake.phone(OPERATOR).script("answer", after=2)
    centre_number.twiml["/twilio/voice/to-operator"] = (
        f'<Response><Dial callerId="{OURS}" action="/twilio/bridge-done"><Number>{OPERATOR}</Number></Dial></Response>'
    )
    waiting = await fake.incoming_call(from_=RELATIVE)
    await fake.advance(5)
    await client.calls(waiting.call.sid).update_async(url=f"{PUBLIC}/twilio/voice/to-operator")
    await fake.advance(2)
    [leg] = await client.calls.list_async(parent_call_sid=waiting.call.sid)
    assert (leg.to, leg.status) == (OPERATOR, "in-progress")
    assert queue.members == []
    await fake.advance(40)
    await waiting.hang_up()
    [done] = centre_number.params("/twilio/bridge-done")
    assert (done["DialCallStatus"], done["DialCallDuration"], done["CallSid"]) == ("completed", "40", waiting.call.sid)
    assert fake.call(leg.sid).status == "completed"


async def test_unscripted_calls_are_still_driven_by_hand(fake: FakeTwilio, opaska: Opaska) -> None:
    call = await fake.client().calls.create_async(
        to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/v", status_callback=f"{PUBLIC}/twilio/s"
    )
    await fake.advance(120)
    assert fake.call(call.sid).statuses == ["queued"]
    assert opaska.accepted == []


async def test_the_api_ends_a_call_driven_by_hand(fake: FakeTwilio, opaska: Opaska) -> None:
    client = fake.client()
    call = await client.calls.create_async(
        to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/v", status_callback=f"{PUBLIC}/twilio/s"
    )
    updated = await client.calls(call.sid).update_async(status="canceled")
    assert updated.status == "canceled"
    await fake.settle()
    assert opaska.statuses("/twilio/s") == ["canceled"]
    with pytest.raises(TwilioRestException) as caught:
        await client.calls(call.sid).update_async(url=f"{PUBLIC}/twilio/other")
    assert (caught.value.status, caught.value.code) == (400, 21220)


async def test_the_control_api_scripts_phones_and_starts_incoming_calls(
    fake: FakeTwilio, centre_number: Opaska
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.url}/_fake/script", data={"Number": OPERATOR, "Outcome": "busy"}) as scripted:
            assert scripted.status == 200
        async with http.post(f"{fake.url}/_fake/incoming-call", data={"From": BAND, "To": OURS}) as incoming:
            sid = (await incoming.json())["call"]["sid"]
        async with http.post(f"{fake.url}/_fake/advance", data={"Seconds": "4"}) as advanced:
            assert advanced.status == 200
        async with http.get(f"{fake.url}/_fake/state") as state:
            body = await state.json()
        async with http.post(f"{fake.url}/_fake/hang-up", data={"CallSid": sid}) as hung_up:
            assert hung_up.status == 200
    assert body["scripts"][OPERATOR]["outcome"] == "busy"
    assert [q["call_sids"] for q in body["queues"]] == [[sid]]
    assert body["voice_time"] == 4
    [left] = centre_number.params("/twilio/queue-done")
    assert (left["QueueResult"], left["QueueTime"]) == ("hangup", "4")


async def test_voice_time_can_follow_the_wall_clock() -> None:
    async with FakeTwilio(phone_number=OURS, voice_realtime=True) as fake:
        start = fake.model.clock.now()
        await asyncio.sleep(0.35)
        assert fake.model.clock.elapsed >= 0.2
        # Counted once: the fake's time is the wall clock, not the wall clock plus the voice time.
        passed = (fake.model.clock.now() - start).total_seconds()
        assert 0.3 <= passed < 0.6


async def test_twilio_away_fails_adding_a_participant_and_hanging_up(fake: FakeTwilio, opaska: Opaska) -> None:
    client = fake.client()
    fake.fail_next(1, status=503, only="calls")
    with pytest.raises(TwilioRestException) as caught:
        await client.conferences("alarm-12").participants.create_async(from_=OURS, to=BAND)
    assert caught.value.status == 503
    assert fake.calls == []
    assert fake.conference("alarm-12") is None
    fake.phone(RELATIVE).script("answer", after=1)
    call = await client.calls.create_async(to=RELATIVE, from_=OURS, twiml='<Response><Pause length="60"/></Response>')
    await fake.advance(1)
    fake.fail_next(1, status=500, only="calls")
    with pytest.raises(TwilioRestException):
        await client.calls(call.sid).update_async(status="completed")
    await fake.settle()
    assert fake.call(call.sid).status == "in-progress"
