"""Access control, route by route. ACCESS below names every route the console serves and who may
use it; the matrix then asks each staff route as every role, for objects of the user's own
municipality and of another, without a login, and (unsafe methods) without the CSRF token, and
lists every answer that differs from the table. A route added to the app but not to ACCESS fails,
and so does an entry whose route is gone.

What the answers mean, read from the code (console/auth/current.py, console/api/scope.py,
console/pages.py): no login is 401 from the API and a 303 to /login from a page; a role the route
is not for is 403 ("may not do this"); an object of a municipality the user is not assigned to is
403 ("not assigned to"), never its data; an administrator is assigned to every municipality. A page
a role may not open answers 403 with a refusal page. Passing the gates is any answer but 401, 403,
404 or a 5xx: a 409 or 422 from the route itself proves the request got past them.

Every answer is also read for what it must not hold: municipality B's names (they carry a mark) in
an answer to A's staff, a resident's medical notes or key-safe code outside the routes and roles
meant for them, anything of a resident's in an answer to someone not logged in. The machines'
hooks (EMQX, Twilio) open to their own secret and not to a staff login; the live WebSocket opens
to a login, and not from another site's page.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Mount, WebSocketRoute
from starlette.types import Message
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # no py.typed

from alarm_center.alarms.model import AlarmKind
from alarm_center.care.welfare_calls import plan_call
from alarm_center.care.welfare_model import WelfareReason
from alarm_center.live import AlarmFeed
from alarm_center.voice.model import CallDirection, CallStatus, CallTarget, VoiceCall
from console.auth.sessions import COOKIE, CSRF_HEADER
from console.context import ConsoleContext, TwilioHooks
from console.key_safe import set_key_safe_code
from core.clock import FakeClock
from core.db.engine import make_engine, make_session_factory
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.broker.emqx_hooks import EmqxHooks
from gateway.topics import TopicScheme
from opaska.console_app import console_app
from registry import service
from registry.bands import register_band_without_credentials
from registry.model import ActionPlanStep, PlanStepKind
from registry.traffic.dead_letters import DeadLetterEntry, keep_dead_letters
from simulator.lab.staff import Login, StaffMember, create_staff, log_in
from tests.support.alarms import take_in
from tests.support.routes import app_routes

Role = Literal["operator", "supervisor", "technician", "administrator"]
ROLES: tuple[Role, ...] = ("operator", "supervisor", "technician", "administrator")
ANY: tuple[Role, ...] = ROLES
HANDLERS: tuple[Role, ...] = ("operator", "supervisor", "administrator")
MANAGERS: tuple[Role, ...] = ("supervisor", "administrator")
BAND_READERS: tuple[Role, ...] = ("technician", "supervisor", "administrator")
TECHNICIANS: tuple[Role, ...] = ("technician", "administrator")
ADMINISTRATORS: tuple[Role, ...] = ("administrator",)

# In every name of municipality B's objects: an answer to municipality A's staff holding it leaks.
MARK = "zqxb"
# In every resident's medical notes and key-safe code. Medical notes are for supervisors (the
# registry's GET .../medical-notes, recorded) and for whoever handles an alarm (GET .../medical,
# audited); the key-safe code is
# shown only by GET .../key-safe (audited). Anywhere else, to anyone else, they leak.
MEDICAL_MARK = "medqx"
KEY_SAFE_MARK = "keyqx"
# The only answers that may hold medical notes: each reading is recorded (alarm event, registry
# reading), and the RODO export holds everything about the resident by design.
MEDICAL_NOTES_ROUTES = {
    ("GET", "/api/alarms/{alarm_id}/medical"),
    ("GET", "/api/registry/residents/{resident_id}/medical-notes"),
    ("GET", "/api/registry/residents/{resident_id}/export"),
}
DATA_KEY = Fernet(Fernet.generate_key())
MQTT_HOOK_TOKEN = "hook-token-for-the-matrix"
TWILIO_TOKEN = "twilio-token-for-the-matrix"
BASE = "http://console"
# Mounts that serve files, no data: left out of the table on purpose.
EXCLUDED_MOUNTS = {"static"}


@dataclass(frozen=True)
class Side:
    """One municipality's objects, as a request's path, query and body name them."""

    municipality_id: int
    municipality_code: str
    resident_id: int
    contact_id: int
    band_id: int
    # A band never given to anyone: shared stock, as the one a swap brings.
    stock_band_id: int
    alarm_id: int
    # Put into the names this side's requests create (MARK on B's side).
    tag: str
    # A call in progress about the alarm (an operator's, with a recording), and a caller waiting.
    call_id: int = 0
    incoming_call_id: int = 0
    # A step of the resident's action plan.
    step_id: int = 0
    # A welfare call planned for the resident.
    welfare_call_id: int = 0
    # A member of staff of this side (an operator, with no second factor to reset).
    staff_id: int = 0

    def path_params(self) -> dict[str, object]:
        return {
            "alarm_id": self.alarm_id,
            "municipality_id": self.municipality_id,
            "step_id": self.step_id,
            "resident_id": self.resident_id,
            "contact_id": self.contact_id,
            "band_id": self.band_id,
            "call_id": self.call_id,
            "welfare_call_id": self.welfare_call_id,
            "staff_id": self.staff_id,
            # Public routes' parameters: no object of either municipality.
            "notification_id": 999_999,
            "token": "not-a-status-token",
            "what": "going",
        }


Body = dict[str, Any] | bytes | None
# "login_step": the second step of a login (console/auth/second_factor_api.py), opened by its own
# cookie after the password, not by a session: 401 to everyone else.
Kind = Literal["api", "page", "public", "mqtt_hook", "twilio_hook", "websocket", "login_step"]


@dataclass(frozen=True)
class Rule:
    """Who may use a route, and how the matrix asks it."""

    kind: Kind
    roles: tuple[Role, ...] = ()
    # The request names an object (or municipality) of one side: B's is refused to A's staff.
    scoped: bool = False
    body: Callable[[Side], Body] | None = None
    query: Callable[[Side], dict[str, Any]] | None = None
    # Passing changes the object for good (erased, unbound, closed): each passing request gets its
    # own objects, so the cells after it find the shared ones as they were.
    fresh: bool = False
    # Passing ends the session: asked with a login of its own.
    ends_session: bool = False
    # The body names a second object: also asked with A's object in the path and B's in the body.
    cross: bool = False
    # Path parameters of this route that differ from the side's usual ones (e.g. the waiting call).
    path: Callable[[Side], dict[str, object]] | None = None


def api(
    *roles: Role,
    scoped: bool = False,
    body: Callable[[Side], Body] | None = None,
    query: Callable[[Side], dict[str, Any]] | None = None,
    fresh: bool = False,
    ends_session: bool = False,
    cross: bool = False,
    path: Callable[[Side], dict[str, object]] | None = None,
) -> Rule:
    return Rule("api", roles, scoped, body, query, fresh, ends_session, cross, path)


def page(*roles: Role) -> Rule:
    return Rule("page", roles)


PUBLIC = Rule("public")
TWILIO = Rule("twilio_hook", body=lambda _: {"From": "+48601234567", "Body": "TAK", "MessageStatus": "delivered"})


def _waiting(side: Side) -> dict[str, object]:
    return {"call_id": side.incoming_call_id}


# Twilio's voice webhooks about one call: a leg's progress, the caller's wait in the queue.
VOICE_HOOK = Rule("twilio_hook", body=lambda _: {"CallSid": "CAmatrixunknown", "CallStatus": "ringing"})
VOICE_STATUS = Rule(
    "twilio_hook",
    body=lambda _: {"CallSid": "CAmatrixunknown", "CallStatus": "ringing"},
    query=lambda _: {"leg": "far"},
)
WAITING_HOOK = Rule(
    "twilio_hook", body=lambda _: {"CallSid": "CAmatrixunknown", "QueueResult": "hangup"}, path=_waiting
)


class RecordingTelephone:
    """The telephone for the matrix: places nothing anywhere, plays a few bytes of audio."""

    async def call(self, **_: object) -> str:
        return f"CAmatrix{uuid.uuid4().hex[:24]}"

    async def hang_up(self, call_sid: str) -> None:
        return None

    async def recording_audio(self, recording_sid: str) -> bytes:
        return b"RIFF-matrix-audio"

    async def delete_recording(self, recording_sid: str) -> None:
        return None


def _soon() -> str:
    # The centre's clock starts at the real time: an hour on is a time a call may be planned for.
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def _serial(side: Side) -> str:
    return f"OP-{side.tag}{uuid.uuid4().hex[:8]}".upper()


# (method, path template) -> who may use it. "WS" for a WebSocket route.
ACCESS: dict[tuple[str, str], Rule] = {
    # ---- open to anyone: health, metrics, the API's description, logging in, a relative's link
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    # The login's second step (TOTP code, or enrolment the role requires): a page saying so without one.
    ("GET", "/login/second-factor"): PUBLIC,
    ("POST", "/api/login/code"): Rule("login_step", body=lambda _: {"code": "123456"}),
    ("POST", "/api/login/enrolment"): Rule("login_step"),
    ("POST", "/api/login/enrolment/confirm"): Rule("login_step", body=lambda _: {"code": "123456"}),
    # An empty name is refused as input (422), not counted as a failed login.
    ("POST", "/api/login"): Rule("public", body=lambda _: {"username": "", "password": ""}),
    ("GET", "/s/{token}"): PUBLIC,
    # A responder's link: the signed token is the key (tests/test_responder_link.py).
    ("GET", "/r/{token}"): PUBLIC,
    ("POST", "/r/{token}/key-safe"): PUBLIC,
    ("POST", "/r/{token}/{what}"): PUBLIC,
    # ---- machines with a secret of their own: EMQX's bearer token, Twilio's signature
    ("POST", "/mqtt/emqx/authenticate"): Rule(
        "mqtt_hook", body=lambda _: {"username": "nobody", "password": "x", "clientid": "c"}
    ),
    ("POST", "/mqtt/emqx/authorize"): Rule(
        "mqtt_hook", body=lambda _: {"username": "nobody", "topic": "a/b", "action": "publish"}
    ),
    ("POST", "/twilio/status/{notification_id}"): TWILIO,
    ("POST", "/twilio/sms"): TWILIO,
    ("POST", "/twilio/voice/{notification_id}"): TWILIO,
    ("POST", "/twilio/voice/{notification_id}/gather"): TWILIO,
    ("POST", "/twilio/voice/calls/{call_id}/operator"): VOICE_HOOK,
    ("POST", "/twilio/voice/calls/{call_id}/far"): VOICE_HOOK,
    ("POST", "/twilio/voice/calls/{call_id}/status"): VOICE_STATUS,
    ("POST", "/twilio/voice/calls/{call_id}/recording"): VOICE_HOOK,
    ("POST", "/twilio/voice/incoming"): TWILIO,
    ("POST", "/twilio/voice/incoming/{call_id}/left"): WAITING_HOOK,
    ("POST", "/twilio/voice/incoming/{call_id}/take"): WAITING_HOOK,
    ("POST", "/twilio/voice/incoming/{call_id}/wait"): WAITING_HOOK,
    # ---- pages: a shell each; what they show comes from the API below
    ("GET", "/"): page(*ANY),
    ("GET", "/alarms/{alarm_id}"): page(*ANY),
    ("GET", "/supervisor"): page(*MANAGERS),
    ("GET", "/reports"): page(*MANAGERS),
    ("GET", "/reports/sla"): page(*MANAGERS),
    ("GET", "/registry"): page(*BAND_READERS),
    ("GET", "/registry/residents/{resident_id}"): page(*BAND_READERS),
    ("GET", "/registry/bands/new"): page(*BAND_READERS),
    ("GET", "/registry/bands/{band_id}"): page(*BAND_READERS),
    ("GET", "/devices"): page(*BAND_READERS),
    ("WS", "/ws/live"): Rule("websocket", ANY),
    # ---- the login
    ("GET", "/api/me"): api(*ANY),
    ("POST", "/api/logout"): api(*ANY, ends_session=True),
    # Failed logins (who tried which name from where), for those who oversee the console.
    ("GET", "/api/login-failures"): api(*MANAGERS),
    # ---- the second factor: one's own (turned on by those who may), and everyone's for administrators
    ("GET", "/api/me/second-factor"): api(*ANY),
    ("POST", "/api/me/second-factor/enrolment"): api(*MANAGERS),
    # Nothing begun: passes the gates and is refused for that (409).
    ("POST", "/api/me/second-factor/confirm"): api(*MANAGERS, body=lambda _: {"code": "123456"}),
    ("POST", "/api/me/second-factor/disable"): api(*ANY, body=lambda _: {"password": "not the password"}),
    ("GET", "/api/staff/second-factor"): api(*ADMINISTRATORS),
    ("POST", "/api/staff/{staff_id}/second-factor/reset"): api(*ADMINISTRATORS),
    # ---- alarms
    ("GET", "/api/alarms"): api(*ANY),
    ("GET", "/api/alarms/{alarm_id}"): api(*ANY, scoped=True),
    ("GET", "/api/alarms/{alarm_id}/medical"): api(*HANDLERS, scoped=True),
    ("GET", "/api/alarms/{alarm_id}/key-safe"): api(*HANDLERS, scoped=True),
    ("GET", "/api/alarms/{alarm_id}/plan"): api(*ANY, scoped=True),
    ("GET", "/api/alarms/{alarm_id}/ladder"): api(*ANY, scoped=True),
    ("POST", "/api/alarms/{alarm_id}/responder-link"): api(
        *HANDLERS, scoped=True, cross=True, body=lambda side: {"contact_id": side.contact_id}
    ),
    ("POST", "/api/alarms/{alarm_id}/ladder"): api(
        *HANDLERS, scoped=True, body=lambda _: {"rung": "dispatched", "service": "ambulance", "reference": "M-1"}
    ),
    ("POST", "/api/alarms/{alarm_id}/plan/steps/{step_id}"): api(
        *HANDLERS, scoped=True, body=lambda _: {"status": "done", "outcome": "odebrała"}
    ),
    ("POST", "/api/alarms/{alarm_id}/claim"): api(*HANDLERS, scoped=True),
    ("POST", "/api/alarms/{alarm_id}/release"): api(*HANDLERS, scoped=True),
    ("POST", "/api/alarms/{alarm_id}/notes"): api(*HANDLERS, scoped=True, body=lambda _: {"note": "dzwonię"}),
    ("POST", "/api/alarms/{alarm_id}/escalate"): api(*HANDLERS, scoped=True),
    ("POST", "/api/alarms/{alarm_id}/resolve"): api(
        *HANDLERS, scoped=True, fresh=True, body=lambda _: {"outcome": "false_alarm", "note": "pomyłka"}
    ),
    ("POST", "/api/alarms/{alarm_id}/resident-calls"): api(
        *HANDLERS, scoped=True, body=lambda _: {"outcome": "answered"}
    ),
    ("POST", "/api/alarms/{alarm_id}/notify"): api(
        *HANDLERS, scoped=True, cross=True, body=lambda side: {"contact_id": side.contact_id, "channel": "sms"}
    ),
    ("GET", "/api/supervisor/overview"): api(*MANAGERS),
    # What escalated while no console was connected, for the user's municipalities.
    ("GET", "/api/escalations/unattended"): api(*HANDLERS),
    # ---- voice: an operator's own phone, calls from an alarm, answering a caller, recordings
    ("GET", "/account"): page(*ANY),
    ("GET", "/api/me/phone"): api(*ANY),
    ("PUT", "/api/me/phone"): api(*ANY, body=lambda _: {"phone": "601234567"}),
    ("GET", "/api/alarms/{alarm_id}/call-targets"): api(*ANY, scoped=True),
    # The staff have no phone of their own here: a call passes the gates and is refused for that (422).
    ("POST", "/api/alarms/{alarm_id}/calls"): api(*HANDLERS, scoped=True, body=lambda _: {"target": "band"}),
    ("POST", "/api/alarms/{alarm_id}/calls/{call_id}/add"): api(
        *HANDLERS, scoped=True, body=lambda side: {"target": "contact", "target_id": side.contact_id}
    ),
    ("POST", "/api/alarms/{alarm_id}/calls/{call_id}/hang-up"): api(*HANDLERS, scoped=True, fresh=True),
    ("POST", "/api/alarms/{alarm_id}/calls/{call_id}/answer"): api(*HANDLERS, scoped=True, path=_waiting),
    # A recording is played to supervisors only, and each playing is audited.
    ("GET", "/api/alarms/{alarm_id}/calls/{call_id}/recording"): api(*MANAGERS, scoped=True),
    ("PUT", "/api/registry/residents/{resident_id}/call-recording-consent"): api(
        *MANAGERS, scoped=True, body=lambda _: {"consent": True}
    ),
    # ---- installation tests: the count for every console; the band's test alarms for band readers;
    # closing one for anyone who handles alarms, and for a technician a test alarm only (the side's
    # alarm is a real one: a technician is refused it for the role, an operator gets 409)
    ("GET", "/api/installation-tests/summary"): api(*ANY),
    ("GET", "/api/installation-tests/bands/{band_id}/alarms"): api(*BAND_READERS, scoped=True),
    ("POST", "/api/installation-tests/alarms/{alarm_id}/close"): api(
        *HANDLERS, scoped=True, body=lambda _: {"outcome": "installation_test_ok"}
    ),
    ("PUT", "/api/residents/{resident_id}/key-safe"): api(*MANAGERS, scoped=True, body=lambda _: {"code": "4711#"}),
    ("GET", "/api/band-rejects"): api(*BAND_READERS),
    # ---- the registry: bands
    ("GET", "/api/registry/bands"): api(
        *BAND_READERS, scoped=True, query=lambda side: {"municipality_id": side.municipality_id}
    ),
    ("GET", "/api/registry/bands/{band_id}"): api(*BAND_READERS, scoped=True),
    ("POST", "/api/registry/bands"): api(
        *TECHNICIANS,
        scoped=True,
        cross=True,
        body=lambda side: {"serial": _serial(side), "model": "test", "resident_id": side.resident_id},
    ),
    ("POST", "/api/registry/bands/{band_id}/bind"): api(
        *TECHNICIANS, scoped=True, cross=True, body=lambda side: {"resident_id": side.resident_id}
    ),
    ("POST", "/api/registry/bands/{band_id}/unbind"): api(*TECHNICIANS, scoped=True, fresh=True),
    ("POST", "/api/registry/bands/{band_id}/swap"): api(
        *TECHNICIANS, scoped=True, fresh=True, body=lambda side: {"new_band_id": side.stock_band_id}
    ),
    ("POST", "/api/registry/bands/{band_id}/decommission"): api(
        *TECHNICIANS, scoped=True, fresh=True, body=lambda _: {"note": ""}
    ),
    ("POST", "/api/registry/bands/{band_id}/credentials"): api(*TECHNICIANS, scoped=True),
    ("DELETE", "/api/registry/bands/{band_id}/credentials"): api(*TECHNICIANS, scoped=True, fresh=True),
    ("POST", "/api/registry/bands/{band_id}/test-mode"): api(*TECHNICIANS, scoped=True, body=lambda _: {}),
    ("DELETE", "/api/registry/bands/{band_id}/test-mode"): api(*TECHNICIANS, scoped=True),
    ("GET", "/api/registry/bands/{band_id}/tests"): api(*BAND_READERS, scoped=True),
    ("GET", "/api/registry/devices/health"): api(
        *BAND_READERS, scoped=True, query=lambda side: {"municipality_id": side.municipality_id, "all": "true"}
    ),
    ("GET", "/api/registry/devices/health.csv"): api(
        *BAND_READERS, scoped=True, query=lambda side: {"municipality_id": side.municipality_id, "all": "true"}
    ),
    # ---- the registry: municipalities, residents, contacts, import, RODO
    ("GET", "/api/registry/municipalities"): api(*ANY),
    ("POST", "/api/registry/municipalities"): api(
        *ADMINISTRATORS, body=lambda _: {"code": f"n-{uuid.uuid4().hex[:8]}", "name": "Gmina Nowa"}
    ),
    ("GET", "/api/registry/residents"): api(
        *ANY, scoped=True, query=lambda side: {"municipality_id": side.municipality_id}
    ),
    ("GET", "/api/registry/residents/{resident_id}"): api(*ANY, scoped=True),
    ("GET", "/api/registry/residents/{resident_id}/plan"): api(*ANY, scoped=True),
    ("GET", "/api/registry/residents/{resident_id}/checkin-window"): api(*ANY, scoped=True),
    ("GET", "/api/registry/residents/{resident_id}/safe-zone"): api(*ANY, scoped=True),
    ("GET", "/api/platform/canary"): api(*ANY),
    ("PUT", "/api/registry/residents/{resident_id}/safe-zone"): api(
        *BAND_READERS, scoped=True, body=lambda _: {"lat": 51.11, "lon": 17.03, "radius_m": 300}
    ),
    ("PUT", "/api/registry/residents/{resident_id}/checkin-window"): api(
        *BAND_READERS, scoped=True, body=lambda _: {"from": "08:00", "until": "10:00"}
    ),
    ("PUT", "/api/registry/residents/{resident_id}/plan"): api(
        *BAND_READERS,
        scoped=True,
        fresh=True,
        body=lambda _: {"steps": [{"kind": "call_resident"}, {"kind": "emergency"}]},
    ),
    ("GET", "/api/registry/municipalities/{municipality_id}/plan"): api(*ANY, scoped=True),
    ("PUT", "/api/registry/municipalities/{municipality_id}/plan"): api(
        *MANAGERS, scoped=True, body=lambda _: {"steps": [{"kind": "call_key_holder"}]}
    ),
    ("POST", "/api/registry/residents"): api(
        *MANAGERS,
        scoped=True,
        body=lambda side: {"municipality_id": side.municipality_id, "first_name": "Jan", "last_name": f"Lis{side.tag}"},
    ),
    ("PATCH", "/api/registry/residents/{resident_id}"): api(
        *MANAGERS, scoped=True, body=lambda _: {"access_notes": "klucz u sąsiadki"}
    ),
    ("POST", "/api/registry/residents/{resident_id}/deactivate"): api(*MANAGERS, scoped=True, fresh=True),
    ("POST", "/api/registry/residents/{resident_id}/contacts"): api(
        *MANAGERS, scoped=True, body=lambda side: {"name": f"Jan Lis{side.tag}", "phone": "601 234 568"}
    ),
    ("PATCH", "/api/registry/contacts/{contact_id}"): api(*MANAGERS, scoped=True, body=lambda _: {"relation": "syn"}),
    ("DELETE", "/api/registry/contacts/{contact_id}"): api(*MANAGERS, scoped=True, fresh=True),
    ("PUT", "/api/registry/residents/{resident_id}/contacts/order"): api(
        *MANAGERS, scoped=True, cross=True, body=lambda side: {"contact_ids": [side.contact_id]}
    ),
    # A dry run of a file naming no municipality (a file naming another's is reported row by row).
    ("POST", "/api/registry/import"): api(*MANAGERS, body=lambda _: b"imie;nazwisko\n"),
    ("GET", "/api/registry/residents/{resident_id}/export"): api(*MANAGERS, scoped=True),
    ("GET", "/api/registry/residents/{resident_id}/medical-notes"): api(*MANAGERS, scoped=True),
    ("POST", "/api/registry/residents/{resident_id}/erase"): api(
        *ADMINISTRATORS, scoped=True, fresh=True, body=lambda side: {"confirm_resident_id": side.resident_id}
    ),
    # ---- reports
    ("GET", "/api/reports/municipalities"): api(*MANAGERS),
    ("GET", "/api/reports/monthly"): api(
        *MANAGERS,
        scoped=True,
        query=lambda side: {"municipality": side.municipality_code, "month": "2026-01", "format": "json"},
    ),
    ("GET", "/api/reports/period"): api(
        *MANAGERS,
        scoped=True,
        query=lambda side: {"municipality": side.municipality_code, "period": "2026-Q1"},
    ),
    ("GET", "/api/sla"): api(*MANAGERS),
    # ---- welfare calls: the shift's list and outcomes for those who take calls; planning for anyone
    # who sets up care, a whole municipality for supervisors
    ("GET", "/api/welfare-calls/due"): api(*HANDLERS),
    ("GET", "/api/registry/residents/{resident_id}/welfare-calls"): api(*ANY, scoped=True),
    ("POST", "/api/registry/residents/{resident_id}/welfare-calls"): api(
        *ANY, scoped=True, body=lambda side: {"due_at": _soon(), "reason": "other", "note": f"telefon {side.tag}"}
    ),
    ("POST", "/api/registry/municipalities/{municipality_id}/welfare-calls"): api(
        *MANAGERS, scoped=True, body=lambda _: {"due_at": _soon(), "reason": "birthday"}
    ),
    # A second outcome is a 409: past the gates all the same.
    ("POST", "/api/welfare-calls/{welfare_call_id}/outcome"): api(
        *HANDLERS, scoped=True, body=lambda _: {"outcome": "reached", "note": "wszystko dobrze"}
    ),
    ("DELETE", "/api/welfare-calls/{welfare_call_id}"): api(*ANY, scoped=True, fresh=True),
}


# ---- the route list ------------------------------------------------------------------------------------------


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves; ("WS", path) for a WebSocket."""
    served: set[tuple[str, str]] = set()
    for route in app_routes(app):
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            if route.name not in EXCLUDED_MOUNTS:
                served.add(("MOUNT", str(route.path)))
        elif isinstance(original, APIWebSocketRoute | WebSocketRoute):
            served.add(("WS", str(route.path)))
        else:
            # HEAD comes with every GET (Starlette adds it) and answers as the GET does.
            for method in (route.methods or {"?"}) - {"HEAD"}:
                served.add((method, str(route.path)))
    return served


def test_every_route_is_in_the_access_table() -> None:
    sessions = make_session_factory(make_engine("sqlite+aiosqlite://"))
    app = console_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), emqx_hooks=None)
    served = served_routes(app)
    unlisted = sorted(served - ACCESS.keys())
    gone = sorted(ACCESS.keys() - served)
    assert not unlisted, f"routes with no entry in ACCESS (say who may use them): {unlisted}"
    assert not gone, f"entries in ACCESS for routes the app no longer serves: {gone}"


# ---- the centre the matrix asks ------------------------------------------------------------------------------


class Outcome(Enum):
    PASS = "gets past every gate"
    LOGIN = "asked to log in (401, or a 303 to /login from a page)"
    ROLE = "refused for the role (403)"
    SCOPE = "refused for the municipality (403)"
    REFUSAL_PAGE = "shown the page's refusal"
    CSRF = "refused for the missing CSRF token (403)"
    SECRET = "refused for the missing hook secret"


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    app: FastAPI
    own_municipality: tuple[int, str]
    other_municipality: tuple[int, str]
    own: Side
    other: Side
    staff: dict[Role, StaffMember]
    clients: dict[Role, httpx.AsyncClient] = field(default_factory=dict)
    logins: dict[Role, Login] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)

    async def add_side(self, municipality: tuple[int, str], tag: str) -> Side:
        return await _seed_side(self.sessions, self.clock, municipality, tag)

    async def as_(self, role: Role) -> httpx.AsyncClient:
        if role not in self.clients:
            client = self.client()
            self.logins[role] = await log_in(client, self.staff[role])
            self.clients[role] = client
        return self.clients[role]


async def _seed_side(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, municipality: tuple[int, str], tag: str
) -> Side:
    """A resident with a contact, a key-safe code, medical notes and a band with an open SOS alarm, and a stock band."""
    municipality_id, code = municipality
    suffix = uuid.uuid4().hex[:6]
    async with sessions() as session, session.begin():
        resident = await service.create_resident(
            session,
            clock,
            municipality_id=municipality_id,
            first_name="Helena",
            last_name=f"Kowalska{tag}{suffix}",
            address=f"ul. Legnicka 12/4 {tag}",
            medical_notes=f"Cukrzyca typu 2 {MEDICAL_MARK} {tag}",
        )
        contact = await service.add_contact(
            session, clock, resident_id=resident.id, name=f"Anna {tag}", phone="601 234 567", priority=1
        )
        band = await register_band_without_credentials(
            session, clock, serial=f"OP-{tag}{suffix}".upper(), model="test", resident_id=resident.id
        )
        # Stock holds nobody's data: its serial carries no mark, everyone may see it.
        stock = await register_band_without_credentials(
            session, clock, serial=f"OP-STOCK-{uuid.uuid4().hex[:8]}", model="test"
        )
        await set_key_safe_code(session, DATA_KEY, resident_id=resident.id, code=f"4711#{KEY_SAFE_MARK}{tag}")
        alarm_id = await take_in(
            session, band_id=band.id, municipality_id=municipality_id, kind=AlarmKind.SOS, at=clock.now()
        )
        # A message of the band's the gateway refused: technicians see those of their municipalities.
        rejected = DeadLetterEntry(
            received_at=clock.now(),
            topic=f"opaska/v1/bands/{band.serial}/up/heartbeat",
            payload=f'{{"note": "{tag}"}}'.encode(),
            reason="invalid",
            detail=f"from {band.serial}",
            band=band.serial,
            kind="heartbeat",
        )
        await keep_dead_letters(session, [rejected], keep=1000)
        # An operator's call with the band in progress (recorded), and a caller waiting in the queue.
        talking = VoiceCall(
            alarm_id=alarm_id,
            direction=CallDirection.OUTBOUND.value,
            target=CallTarget.BAND.value,
            target_id=band.id,
            number="+48600000111",
            room=f"alarm-{alarm_id}",
            status=CallStatus.IN_PROGRESS.value,
            operator_call_sid=f"CAop{uuid.uuid4().hex[:24]}",
            far_call_sid=f"CAfar{uuid.uuid4().hex[:24]}",
            recording_sid=f"RE{uuid.uuid4().hex[:30]}",
            recording_duration_s=30,
            created_at=clock.now(),
            answered_at=clock.now(),
            updated_at=clock.now(),
        )
        waiting = VoiceCall(
            alarm_id=alarm_id,
            direction=CallDirection.INBOUND.value,
            target=CallTarget.RESIDENT.value,
            target_id=resident.id,
            number="+48600000222",
            room=f"alarm-{alarm_id}",
            status=CallStatus.QUEUED.value,
            far_call_sid=f"CAin{uuid.uuid4().hex[:24]}",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        step = ActionPlanStep(
            resident_id=resident.id, position=1, kind=PlanStepKind.CALL_RESIDENT.value, updated_at=clock.now()
        )
        welfare = await plan_call(
            session,
            resident_id=resident.id,
            due_at=clock.now(),
            reason=WelfareReason.WEEKLY,
            note=f"Jak się czuje {tag}",
            repeat_weekly=False,
            by=None,
            now=clock.now(),
        )
        session.add_all([talking, waiting, step])
        await session.flush()
    return Side(
        municipality_id,
        code,
        resident.id,
        contact.id,
        band.id,
        stock.id,
        alarm_id,
        tag,
        talking.id,
        waiting.id,
        step.id,
        welfare.id,
    )


async def _municipality(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tag: str) -> tuple[int, str]:
    # The code carries no mark: a refusal may well repeat the code the user asked for.
    code = f"m-{uuid.uuid4().hex[:8]}"
    async with sessions() as session, session.begin():
        created = await service.create_municipality(session, clock, code=code, name=f"Gmina {tag or 'Nasza'}")
        return created.id, code


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    own_municipality = await _municipality(sessions, clock, "")
    other_municipality = await _municipality(sessions, clock, MARK)
    staff: dict[Role, StaffMember] = {}
    for role in ROLES:
        # Everyone works for municipality A; an administrator for all of them.
        mine = [] if role == "administrator" else [own_municipality[0]]
        staff[role] = await create_staff(sessions, clock, role=role, municipality_ids=mine)
    credentials = CredentialStore(sessions, service_username="opaska-service", service_password="x")
    context = ConsoleContext(
        sessions,
        AlarmFeed(sessions),
        run_feed=False,
        data_key=DATA_KEY,
        twilio_hooks=TwilioHooks(TWILIO_TOKEN, BASE, clock),
        telephone=RecordingTelephone(),
    )
    hooks = EmqxHooks(MQTT_HOOK_TOKEN, credentials, TopicRules(TopicScheme("matrix/opaska/v1")))
    app = console_app(context, emqx_hooks=hooks, clock=clock)
    own = replace(await _seed_side(sessions, clock, own_municipality, ""), staff_id=staff["operator"].id)
    other = await _seed_side(sessions, clock, other_municipality, MARK)
    # Five minutes on: the open alarms are past both answer-time targets, so the supervisor's
    # overview and the SLA report have overdue and missed alarms (of both municipalities) to show.
    clock.advance(300)
    found = Centre(sessions, clock, app, own_municipality, other_municipality, own, other, staff)
    try:
        yield found
    finally:
        for client in found.clients.values():
            await client.aclose()


# ---- asking and judging --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    location: str = ""


async def _ask(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    rule: Rule,
    side: Side,
    *,
    csrf: bool = True,
    headers: dict[str, str] | None = None,
    body_side: Side | None = None,
) -> Answer:
    try:
        url = path.format(**(side.path_params() | (rule.path(side) if rule.path else {})))
    except KeyError as unknown:
        raise AssertionError(f"{path}: no value for the parameter {unknown}; add one to Side.path_params") from None
    body = rule.body(body_side or side) if rule.body else None
    params = rule.query(side) if rule.query else None
    extra = dict(headers or {})
    if isinstance(body, bytes):
        request = client.build_request(
            method, url, params=params, content=body, headers={"content-type": "text/csv", **extra}
        )
    elif rule.kind == "twilio_hook":
        request = client.build_request(method, url, params=params, data=body, headers=extra)
    else:
        request = client.build_request(method, url, params=params, json=body, headers=extra)
    if not csrf and CSRF_HEADER in request.headers:
        del request.headers[CSRF_HEADER]
    response = await client.send(request)
    return Answer(response.status_code, response.text, response.headers.get("location", ""))


def _judge(rule: Rule, expected: Outcome, answer: Answer) -> str | None:
    """What is wrong with the answer, or None."""
    status, text = answer.status, answer.text
    if status >= 500:
        return f"server error {status}: {text[:200]}"
    if expected is Outcome.PASS:
        if status in (401, 403, 404):
            return f"{status}: {text[:200]}"
        if rule.kind == "page" and (status != 200 or "brak dostępu" in text):
            return f"{status}, not the page" + (" (the refusal page)" if "brak dostępu" in text else "")
        return None
    if expected is Outcome.LOGIN:
        if rule.kind == "page":
            ok = status == 303 and answer.location.startswith("/login?next=")
        else:
            ok = status == 401 and "log in" in text
        return None if ok else f"{status} {answer.location}: {text[:200]}"
    if expected is Outcome.REFUSAL_PAGE:
        ok = status == 403 and "brak dostępu" in text
        return None if ok else f"{status}, not the refusal page: {text[:200]}"
    wanted = {
        Outcome.ROLE: (403, "may not do this"),
        Outcome.SCOPE: (403, "not assigned to"),
        Outcome.CSRF: (403, "CSRF"),
        Outcome.SECRET: (401 if rule.kind == "mqtt_hook" else 403, ""),
    }[expected]
    return None if (status, True) == (wanted[0], wanted[1] in text) else f"{status}: {text[:200]}"


def expected_for(rule: Rule, role: Role, other: bool) -> Outcome:
    if rule.kind == "page":
        return Outcome.PASS if role in rule.roles else Outcome.REFUSAL_PAGE
    if role not in rule.roles:
        return Outcome.ROLE
    if rule.scoped and other and role != "administrator":
        return Outcome.SCOPE
    return Outcome.PASS


def _has_parameters(path: str) -> bool:
    return "{" in path


def _leaks(answer_text: str) -> bool:
    return MARK in answer_text.casefold()


def _secrets_shown(method: str, path: str, role: Role, answer_text: str) -> str | None:
    """Medical notes or a key-safe code in an answer that should not hold them."""
    text = answer_text.casefold()
    medical_here = (method, path) in MEDICAL_NOTES_ROUTES
    if MEDICAL_MARK in text and not medical_here:
        return f"the answer holds a resident's medical notes: {answer_text[:300]}"
    if KEY_SAFE_MARK in text and (method, path) != ("GET", "/api/alarms/{alarm_id}/key-safe"):
        return f"the answer holds a key-safe code: {answer_text[:300]}"
    return None


@dataclass
class Matrix:
    failures: list[str] = field(default_factory=list)
    cells: int = 0
    # Routes whose answer to the administrator held B's mark (and those whose answer to anyone
    # held a medical or key-safe mark): the marks are in the data, so their absence elsewhere
    # means something.
    marked_for_administrator: set[str] = field(default_factory=set)

    def check(self, cell: str, problem: str | None) -> None:
        self.cells += 1
        if problem is not None:
            self.failures.append(f"{cell}: {problem}")


async def _staff_cells(centre: Centre, matrix: Matrix, method: str, path: str, rule: Rule) -> None:
    sides = [False, True] if rule.scoped or _has_parameters(path) else [False]
    for role in ROLES:
        for other in sides:
            expected = expected_for(rule, role, other)
            passing = expected is Outcome.PASS
            municipality = centre.other_municipality if other else centre.own_municipality
            side = centre.other if other else centre.own
            if passing and rule.fresh:
                side = await centre.add_side(municipality, MARK if other else "")
            if passing and rule.ends_session:
                client = centre.client()
                await log_in(client, centre.staff[role])
            else:
                client = await centre.as_(role)
            try:
                answer = await _ask(client, method, path, rule, side)
            finally:
                if client is not centre.clients.get(role):
                    await client.aclose()
            cell = f"{method} {path} as {role}, {'other' if other else 'own'} municipality: expected {expected.value}"
            matrix.check(cell, _judge(rule, expected, answer))
            if role == "administrator" and _leaks(answer.text):
                matrix.marked_for_administrator.add(f"{method} {path}")
            if role != "administrator" and _leaks(answer.text):
                matrix.failures.append(f"{cell}: the answer holds municipality B's data: {answer.text[:300]}")
            if (secret := _secrets_shown(method, path, role, answer.text)) is not None:
                matrix.failures.append(f"{cell}: {secret}")
            for secret_mark in (MEDICAL_MARK, KEY_SAFE_MARK):
                if secret_mark in answer.text.casefold():
                    matrix.marked_for_administrator.add(f"{secret_mark} {method} {path}")
    if rule.cross:
        await _cross_cells(centre, matrix, method, path, rule)
    if rule.query is not None and "municipality_id" in rule.query(centre.own):
        await _unfiltered_cells(centre, matrix, method, path, rule)


async def _unfiltered_cells(centre: Centre, matrix: Matrix, method: str, path: str, rule: Rule) -> None:
    """A list not narrowed to a municipality: the user's municipalities only, never B's."""
    query = rule.query
    assert query is not None
    unfiltered = replace(rule, query=lambda side: {k: v for k, v in query(side).items() if k != "municipality_id"})
    for role in rule.roles:
        answer = await _ask(await centre.as_(role), method, path, unfiltered, centre.own)
        cell = f"{method} {path} as {role}, no municipality asked for"
        matrix.check(f"{cell}: expected {Outcome.PASS.value}", _judge(rule, Outcome.PASS, answer))
        if role == "administrator" and _leaks(answer.text):
            matrix.marked_for_administrator.add(f"{method} {path} (all)")
        if role != "administrator" and _leaks(answer.text):
            matrix.failures.append(f"{cell}: the answer holds municipality B's data: {answer.text[:300]}")


async def _cross_cells(centre: Centre, matrix: Matrix, method: str, path: str, rule: Rule) -> None:
    """A's object in the path, B's in the body: refused (403) or rejected as input (422), never done."""
    for role in rule.roles:
        if role == "administrator":
            continue
        answer = await _ask(await centre.as_(role), method, path, rule, centre.own, body_side=centre.other)
        cell = f"{method} {path} as {role}, own municipality's path with the other's object in the body"
        wrong = not ((answer.status == 403 and "not assigned to" in answer.text) or answer.status == 422)
        matrix.check(
            f"{cell}: expected refused (403) or rejected (422)",
            f"{answer.status}: {answer.text[:200]}" if wrong else None,
        )
        if _leaks(answer.text):
            matrix.failures.append(f"{cell}: the answer holds municipality B's data: {answer.text[:300]}")


async def _anonymous_cell(centre: Centre, matrix: Matrix, method: str, path: str, rule: Rule) -> None:
    async with centre.client() as client:
        answer = await _ask(client, method, path, rule, centre.own)
    # Nobody's data to someone who has not logged in: not even health, metrics or a refusal.
    seen = [mark for mark in (MARK, MEDICAL_MARK, KEY_SAFE_MARK, "kowalska") if mark in answer.text.casefold()]
    if seen:
        matrix.failures.append(f"{method} {path} without a login: the answer holds residents' data {seen}")
    if rule.kind == "public":
        # 503 is /readyz's answer here (no live feed runs in the test): not a refusal.
        problem = f"{answer.status}: {answer.text[:200]}" if answer.status in (401, 403, 500) else None
        if answer.location.startswith("/login"):
            problem = f"sent to the login page: {answer.location}"
        matrix.check(f"{method} {path} without a login: expected open to anyone", problem)
    elif rule.kind in ("mqtt_hook", "twilio_hook"):
        matrix.check(
            f"{method} {path} without a login or secret: expected {Outcome.SECRET.value}",
            _judge(rule, Outcome.SECRET, answer),
        )
    else:
        matrix.check(
            f"{method} {path} without a login: expected {Outcome.LOGIN.value}", _judge(rule, Outcome.LOGIN, answer)
        )


async def _csrf_cells(centre: Centre, matrix: Matrix, method: str, path: str, rule: Rule) -> None:
    """As an administrator (past every role and municipality gate), without the token and with a wrong one."""
    client = await centre.as_("administrator")
    without = await _ask(client, method, path, rule, centre.own, csrf=False)
    matrix.check(
        f"{method} {path} without the CSRF token: expected {Outcome.CSRF.value}", _judge(rule, Outcome.CSRF, without)
    )
    wrong = await _ask(client, method, path, rule, centre.own, headers={CSRF_HEADER: "x" * 43})
    matrix.check(
        f"{method} {path} with a wrong CSRF token: expected {Outcome.CSRF.value}", _judge(rule, Outcome.CSRF, wrong)
    )


async def _hook_cells(centre: Centre, matrix: Matrix, method: str, path: str, rule: Rule) -> None:
    """A staff login is no key to a machine's hook; the hook's own secret is."""
    admin = await centre.as_("administrator")
    answer = await _ask(admin, method, path, rule, centre.own)
    matrix.check(
        f"{method} {path} as an administrator without the secret: expected {Outcome.SECRET.value}",
        _judge(rule, Outcome.SECRET, answer),
    )
    url = path.format(**(centre.own.path_params() | (rule.path(centre.own) if rule.path else {})))
    if rule.kind == "mqtt_hook":
        headers = {"Authorization": f"Bearer {MQTT_HOOK_TOKEN}"}
    else:
        body = rule.body(centre.own) if rule.body else None
        assert isinstance(body, dict)
        # Twilio signs the whole URL it calls, its query string too.
        query = f"?{urlencode(rule.query(centre.own))}" if rule.query else ""
        headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(BASE + url + query, body)}
    async with centre.client() as client:
        signed = await _ask(client, method, path, rule, centre.own, headers=headers)
    refused = signed.status in (401, 403) or signed.status >= 500
    matrix.check(
        f"{method} {path} with the secret: expected to get past the gate",
        f"{signed.status}: {signed.text[:200]}" if refused else None,
    )


# ---- the live WebSocket --------------------------------------------------------------------------------------


async def _websocket(app: FastAPI, path: str, headers: dict[str, str]) -> tuple[str, list[Message]]:
    """Open the WebSocket straight through ASGI: 'accepted' (and what was sent before we left) or 'refused'."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            # The snapshot came: leave.
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"console"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 50000),
        "server": ("console", 80),
        "subprotocols": [],
        "state": {},
        "extensions": {},
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    first = sent[0]["type"] if sent else "nothing"
    return ("accepted" if first == "websocket.accept" else "refused"), sent


async def _websocket_cells(centre: Centre, matrix: Matrix, path: str, rule: Rule) -> None:
    state, _ = await _websocket(centre.app, path, {})
    matrix.check(f"WS {path} without a login: expected refused", None if state == "refused" else state)
    for role in ROLES:
        await centre.as_(role)
        cookie = {"Cookie": f"{COOKIE}={centre.logins[role].session_token}"}
        state, sent = await _websocket(centre.app, path, cookie)
        expected = "accepted" if role in rule.roles else "refused"
        matrix.check(f"WS {path} as {role}: expected {expected}", None if state == expected else state)
        if role != "administrator":
            texts = " ".join(str(m.get("text", "")) for m in sent)
            if _leaks(texts):
                matrix.failures.append(
                    f"WS {path} as {role}: the snapshot holds municipality B's alarms: {texts[:300]}"
                )
    # Another site's page may not open it with the user's cookie (the WebSocket's CSRF check).
    cookie = {"Cookie": f"{COOKIE}={centre.logins['administrator'].session_token}", "Origin": "https://evil.example"}
    state, _ = await _websocket(centre.app, path, cookie)
    matrix.check(f"WS {path} from another site's page: expected refused", None if state == "refused" else state)


# ---- the matrix ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_access_matrix(centre: Centre) -> None:
    assert served_routes(centre.app) == ACCESS.keys(), "see test_every_route_is_in_the_access_table"
    started = time.monotonic()
    matrix = Matrix()
    for (method, path), rule in ACCESS.items():
        if rule.kind == "websocket":
            await _websocket_cells(centre, matrix, path, rule)
            continue
        await _anonymous_cell(centre, matrix, method, path, rule)
        if rule.kind in ("mqtt_hook", "twilio_hook"):
            await _hook_cells(centre, matrix, method, path, rule)
        if rule.kind in ("api", "page"):
            await _staff_cells(centre, matrix, method, path, rule)
        if rule.kind == "api" and method not in ("GET", "HEAD"):
            await _csrf_cells(centre, matrix, method, path, rule)
    for control in (
        "GET /api/alarms",
        "GET /api/alarms/{alarm_id}",
        "GET /api/registry/residents/{resident_id}",
        "GET /api/registry/residents (all)",
        "GET /api/band-rejects",
        "GET /api/supervisor/overview",
        "GET /api/sla",
        f"{MEDICAL_MARK} GET /api/alarms/{{alarm_id}}/medical",
        f"{MEDICAL_MARK} GET /api/registry/residents/{{resident_id}}/medical-notes",
        f"{KEY_SAFE_MARK} GET /api/alarms/{{alarm_id}}/key-safe",
    ):
        assert control in matrix.marked_for_administrator, (
            f"no answer held the mark of {control}: the check would see nothing"
        )
    print(f"access matrix: {matrix.cells} cells over {len(ACCESS)} routes in {time.monotonic() - started:.1f} s")
    assert not matrix.failures, f"{len(matrix.failures)} of {matrix.cells} cells wrong:\n" + "\n".join(matrix.failures)
