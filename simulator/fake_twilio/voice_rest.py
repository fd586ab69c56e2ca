"""The voice REST resources beyond Calls.json: a live call's update (hang up, redirect), Conferences and their
Participants, Queues and their Members, and Recordings (metadata, media, delete) — as the `twilio` library
calls them, under /2010-04-01/Accounts/{AccountSid}/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from simulator.fake_twilio.config import FakeConfig
from simulator.fake_twilio.errors import TwilioError, not_found
from simulator.fake_twilio.faults import FaultQueue
from simulator.fake_twilio.model import VoiceModel
from simulator.fake_twilio.records import API_VERSION, FakeCall, RecordedRequest, form_value, is_e164, new_sid
from simulator.fake_twilio.rooms import SILENT_MP3, FakeConference, FakeParticipant, FakeQueue, silent_wav
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.webhooks import is_http_url

Handle = Callable[[web.Request, Callable[[RecordedRequest], Awaitable[web.Response]]], Awaitable[web.Response]]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class VoiceRest:
    def __init__(self, config: FakeConfig, store: Store, model: VoiceModel, faults: FaultQueue) -> None:
        self._config = config
        self._store = store
        self._model = model
        self._faults = faults

    @property
    def model(self) -> VoiceModel:
        return self._model

    def add_routes(self, router: web.UrlDispatcher, handle: Handle) -> None:
        """`handle` is the REST API's wrapper: records the request, checks auth and account, answers errors."""
        api = f"/{API_VERSION}/Accounts/{{account}}"

        def route(path: str, **methods: Callable[[web.Request, RecordedRequest], Awaitable[web.Response]]) -> None:
            async def dispatch(request: web.Request) -> web.StreamResponse:
                work = methods.get(request.method)
                if work is None:
                    return TwilioError(405, 20004, "Method not allowed").response()
                return await handle(request, lambda recorded: work(request, recorded))

            router.add_route("*", api + path, dispatch)

        route("/Calls/{sid}/Recordings.json", GET=self._call_recordings)
        # Adding a participant places a call: the faults queued for "calls" (Twilio away) hit it too.
        add_participant = self._with_faults(self._add_participant)
        route("/Conferences.json", GET=self._conferences)
        route("/Conferences/{conference}.json", GET=self._conference, POST=self._update_conference)
        route("/Conferences/{conference}/Participants.json", GET=self._participants, POST=add_participant)
        route(
            "/Conferences/{conference}/Participants/{call}.json",
            GET=self._participant,
            POST=self._update_participant,
            DELETE=self._remove_participant,
        )
        route("/Queues.json", GET=self._queues)
        route("/Queues/{queue}.json", GET=self._queue)
        route("/Queues/{queue}/Members.json", GET=self._members)
        route("/Queues/{queue}/Members/{call}.json", GET=self._member, POST=self._dequeue_member)
        route("/Recordings.json", GET=self._recordings)
        route("/Recordings/{name}", GET=self._recording, DELETE=self._delete_recording)

    def _with_faults(
        self, work: Callable[[web.Request, RecordedRequest], Awaitable[web.Response]]
    ) -> Callable[[web.Request, RecordedRequest], Awaitable[web.Response]]:
        async def faulted(request: web.Request, recorded: RecordedRequest) -> web.Response:
            fault = self._faults.take("calls")
            if fault is None:
                return await work(request, recorded)
            recorded.fault = fault.kind
            await self._faults.before_create(fault)
            response = await work(request, recorded)
            await self._faults.after_create(fault)
            return response

        return faulted

    # -- Calls/{sid}.json POST --------------------------------------------------------------------------------

    async def update_call(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        """A call updated (faults queued for "calls" apply: hanging up may meet Twilio away too)."""
        return await self._with_faults(self._update_call)(request, recorded)

    async def _update_call(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        """Status=completed|canceled hangs the call up; Url/Twiml gives it new TwiML at once."""
        call = _find(self._store.calls, request.match_info["sid"], request.path)
        form = _form(recorded)
        status, url, twiml = (form_value(form, name) for name in ("Status", "Url", "Twiml"))
        if status and status not in {"completed", "canceled"}:
            raise TwilioError(400, 21218, f"Invalid Status: {status}")
        if url and not is_http_url(url):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        leg = self._model.leg(call.sid)
        body = call.to_json()
        if call.status in {"completed", "busy", "no-answer", "failed", "canceled"}:
            if status or url or twiml:
                raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
            return web.json_response(body)
        if status:
            ending = "completed" if call.status == "in-progress" else "canceled"
            if status == "canceled" and call.status == "in-progress":
                return web.json_response(body)  # Twilio: canceling an answered call does nothing
            if leg is not None:
                self._model.hang_up(leg, by="api")
            else:
                # A call driven by hand: its final callback goes out after this answer, as Twilio's would.
                self._model.clock.spawn(self._model.end_by_hand(call.sid, ending), name=f"end {call.sid}")
            body["status"] = ending
        elif (url or twiml) and leg is not None:
            self._model.redirect(leg, url=url or None, twiml=twiml or None)
        return web.json_response(body)

    # -- Conferences ------------------------------------------------------------------------------------------

    async def _conferences(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        found = list(self._model.conferences)
        query = request.query
        if "FriendlyName" in query:
            found = [c for c in found if c.friendly_name == query["FriendlyName"]]
        if "Status" in query:
            found = [c for c in found if c.status == query["Status"]]
        found.sort(key=lambda c: c.date_created, reverse=True)
        return web.json_response(_page(request.path, query, "conferences", [c.to_json() for c in found]))

    def _find_conference(self, request: web.Request) -> FakeConference:
        # Twilio answers a conference's participants by its FriendlyName too (that is how a call joins a
        # conference it has only the name of); a fetch by name is the fake's kindness.
        conference = self._model.conference(request.match_info["conference"])
        if conference is None:
            raise not_found(request.path)
        return conference

    async def _conference(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        return web.json_response(self._find_conference(request).to_json())

    async def _update_conference(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        conference = self._find_conference(request)
        status = form_value(_form(recorded), "Status")
        if status and status != "completed":
            raise TwilioError(400, 21218, f"Invalid Status: {status}")
        if status == "completed" and conference.status != "completed":
            self._model.clock.spawn(
                self._model.end_conference(conference, "conference-ended-via-API", None),
                name=f"end conference {conference.sid}",
            )
            body = conference.to_json() | {"status": "completed"}
            return web.json_response(body)
        return web.json_response(conference.to_json())

    async def _participants(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        conference = self._find_conference(request)
        items = [p.to_json(conference) for p in conference.participants]
        return web.json_response(_page(request.path, request.query, "participants", items))

    def _find_participant(self, request: web.Request) -> tuple[FakeConference, FakeParticipant]:
        conference = self._find_conference(request)
        participant = conference.participant(request.match_info["call"])
        if participant is None:
            raise not_found(request.path)
        return conference, participant

    async def _participant(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        conference, participant = self._find_participant(request)
        return web.json_response(participant.to_json(conference))

    async def _update_participant(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        conference, participant = self._find_participant(request)
        form = _form(recorded)
        for name, attribute in (
            ("Muted", "muted"),
            ("Hold", "hold"),
            ("EndConferenceOnExit", "end_conference_on_exit"),
        ):
            value = form_value(form, name)
            if value:
                setattr(participant, attribute, value.lower() == "true")
        return web.json_response(participant.to_json(conference))

    async def _remove_participant(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        _, participant = self._find_participant(request)
        leg = self._model.leg(participant.call_sid)
        if leg is not None:
            # Removed from the conference, the call goes on to the TwiML after its <Dial> (or ends).
            leg.signal("kicked")
        return web.Response(status=204)

    async def _add_participant(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        form = _form(recorded)
        to, from_ = form_value(form, "To"), form_value(form, "From")
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not (is_e164(to) or to.startswith(("sip:", "client:"))):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not is_e164(from_) and not from_.startswith("client:"):
            raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if self._config.numbers is not None and from_ not in self._config.numbers:
            raise TwilioError(
                400, 21210, f"The source phone number provided, {from_}, is not yet verified for your account."
            )
        for name in ("StatusCallback", "ConferenceStatusCallback", "RecordingStatusCallback"):
            value = form_value(form, name)
            if value and not is_http_url(value):
                raise TwilioError(400, 21609, f"The {name} URL {value} is not a valid URL.")
        key = request.match_info["conference"]
        conference = self._model.conference(key)
        if conference is None or conference.status == "completed":
            if key.startswith("CF") and len(key) == 34:
                raise not_found(request.path)
            conference = self._model.open_conference(key)  # by FriendlyName: Twilio creates it
        self._model.subscribe(
            conference,
            form_value(form, "ConferenceStatusCallback") or None,
            form.get("ConferenceStatusCallbackEvent", []),
        )
        events = tuple(event for value in form.get("StatusCallbackEvent", []) for event in value.split())
        call = FakeCall(
            sid=new_sid("CA"),
            account_sid=self._config.account_sid,
            to=to,
            from_=from_,
            status="queued",
            date_created=self._model.clock.now(),
            status_callback=form_value(form, "StatusCallback") or None,
            status_callback_events=tuple(dict.fromkeys((*events, "completed"))),
            form=form,
            statuses=["queued"],
        )
        self._store.calls.append(call)
        participant = FakeParticipant(
            call_sid=call.sid,
            number=to,
            label=form_value(form, "Label") or None,
            start_conference_on_enter=form_value(form, "StartConferenceOnEnter").lower() != "false",
            end_conference_on_exit=form_value(form, "EndConferenceOnExit").lower() == "true",
            muted=form_value(form, "Muted").lower() == "true",
            status="queued",
            date_created=self._model.clock.now(),
        )
        self._model.add_participant(conference, call, participant)
        return web.json_response(participant.to_json(conference), status=201)

    # -- Queues -----------------------------------------------------------------------------------------------

    def _find_queue(self, request: web.Request) -> FakeQueue:
        queue = self._model.queue(request.match_info["queue"])
        if queue is None:
            raise not_found(request.path)
        return queue

    async def _queues(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        items = [q.to_json() for q in self._model.queues]
        return web.json_response(_page(request.path, request.query, "queues", items))

    async def _queue(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        return web.json_response(self._find_queue(request).to_json())

    async def _members(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        queue = self._find_queue(request)
        items = [queue.member_json(m, self._model.clock.elapsed) for m in queue.members]
        return web.json_response(_page(request.path, request.query, "queue_members", items))

    def _find_member(self, request: web.Request) -> tuple[FakeQueue, Any]:
        queue = self._find_queue(request)
        key = request.match_info["call"]
        member = queue.members[0] if key == "Front" and queue.members else None
        member = member or next((m for m in queue.members if m.call_sid == key), None)
        if member is None:
            raise not_found(request.path)
        return queue, member

    async def _member(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        queue, member = self._find_member(request)
        return web.json_response(queue.member_json(member, self._model.clock.elapsed))

    async def _dequeue_member(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        """Members/{CallSid|Front}.json POST Url: the caller leaves the queue for that TwiML (QueueResult
        redirected)."""
        queue, member = self._find_member(request)
        url = form_value(_form(recorded), "Url")
        if not url or not is_http_url(url):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        body = queue.member_json(member, self._model.clock.elapsed)
        leg = self._model.leg(member.call_sid)
        if leg is not None:
            self._model.redirect(leg, url=url, twiml=None)
        return web.json_response(body)

    # -- Recordings -------------------------------------------------------------------------------------------

    async def _recordings(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        found = [r for r in self._model.recordings if not r.deleted]
        if "CallSid" in request.query:
            found = [r for r in found if r.call_sid == request.query["CallSid"]]
        if "ConferenceSid" in request.query:
            found = [r for r in found if r.conference_sid == request.query["ConferenceSid"]]
        found.sort(key=lambda r: r.date_created, reverse=True)
        return web.json_response(_page(request.path, request.query, "recordings", [r.to_json() for r in found]))

    async def _call_recordings(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        sid = request.match_info["sid"]
        found = [r.to_json() for r in self._model.recordings if r.call_sid == sid and not r.deleted]
        return web.json_response(_page(request.path, request.query, "recordings", found))

    async def _recording(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        sid, _, extension = request.match_info["name"].partition(".")
        recording = self._model.recording(sid)
        if recording is None:
            raise not_found(request.path)
        if extension == "json":
            return web.json_response(recording.to_json())
        if extension == "mp3":
            return web.Response(body=SILENT_MP3, content_type="audio/mpeg")
        if extension in {"", "wav"}:
            return web.Response(body=silent_wav(), content_type="audio/x-wav")
        raise not_found(request.path)

    async def _delete_recording(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        sid = request.match_info["name"].partition(".")[0]
        recording = self._model.recording(sid)
        if recording is None:
            raise not_found(request.path)
        recording.deleted = True
        recording.status = "deleted"
        self._store.touch()
        return web.Response(status=204)


def _form(recorded: RecordedRequest) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for key, value in recorded.form:
        form.setdefault(key, []).append(value)
    return form


def _find(calls: Sequence[FakeCall], sid: str, path: str) -> FakeCall:
    found = next((c for c in calls if c.sid == sid), None)
    if found is None:
        raise not_found(path)
    return found


def _page(path: str, query: Mapping[str, str], key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One of Twilio's list pages (newest first as given), paged as the library follows them."""
    try:
        page_size = max(1, min(1000, int(query.get("PageSize", "50"))))
        page = max(0, int(query.get("Page", "0")))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid paging parameters") from None
    chunk = items[page * page_size : (page + 1) * page_size]
    filters = [(k, v) for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}]

    def page_uri(number: int) -> str:
        return f"{path}?{urlencode([*filters, ('PageSize', str(page_size)), ('Page', str(number))])}"

    return {
        key: chunk,
        "end": page * page_size + max(0, len(chunk) - 1),
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if (page + 1) * page_size < len(items) else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "start": page * page_size,
        "uri": page_uri(page),
    }
