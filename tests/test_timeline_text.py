"""The alarm's timeline says exactly what happened: each event type and variant has its own wording
in Polish and English, and the API's timeline names the action, the person and the relative.

Table-driven: one row per event the platform writes (every lifecycle move's event type, the band's
raise and repeat, a relative's answer and opt-out, the audited readings, every escalation variant).
A new event type without wording fails `test_every_event_type_the_platform_writes_has_wording`.
"""

from __future__ import annotations

from typing import Any

import pytest

from alarm_center.alarms.moves import MOVES
from alarm_center.alarms.timeline_text import WORDING, Event, describe
from alarm_center.notify.repository import OPT_IN, OPT_OUT, RESPONSE_EVENT
from alarm_center.notify.service import DELIVERY_EVENT
from alarm_center.reports.labels import Lang
from alarm_center.voice.events import CALL_EVENT
from tests.test_console_alarms_api import Centre, centre

__all__ = ["centre"]  # the fixture, from the alarm API tests

EWA = {7: "Ewa Kowalska"}
ANNA = "Anna Nowak"


def _event(type_: str, detail: dict[str, Any], actor_type: str = "system", actor_name: str | None = None) -> Event:
    return Event(type=type_, detail=detail, actor_type=actor_type, actor_name=actor_name, contact_names=EWA)


# (case, event, Polish, English): the whole line, so a wrong word anywhere fails.
CASES: list[tuple[str, Event, str, str]] = [
    ("raised by band", _event("raised", {"band_message_id": 1}, "band"), "Zgłoszenie z opaski", "Raised by the band"),
    (
        "left the safe zone",
        _event("raised", {"reason": "left_zone", "distance_m": 412, "radius_m": 300, "accuracy_m": 15}),
        "Opaska poza strefą bezpieczną: 412 m od domu (±15 m), strefa 300 m",
        "The band left the safe zone: 412 m from home (±15 m), zone 300 m",
    ),
    (
        "back in the safe zone",
        _event("note", {"action": "zone_return", "distance_m": 120, "radius_m": 300, "accuracy_m": 0}),
        "Opaska wróciła do strefy bezpiecznej: 120 m od domu, strefa 300 m",
        "The band is back in the safe zone: 120 m from home, zone 300 m",
    ),
    (
        "canary lost",
        _event("raised", {"reason": "canary_lost", "stage": "engine"}),
        "Alarm kontrolny nie przeszedł przez platformę (zatrzymał się: engine)",
        "The canary alarm did not come through the platform (stopped at: engine)",
    ),
    (
        "canary through again",
        _event("cleared", {"reason": "canary_through", "seconds": 0.41}),
        "Zamknięty przez system: alarm kontrolny znów przeszedł (0.41 s)",
        "Closed by the system: a canary came through again (0.41 s)",
    ),
    (
        "canary closed by the engine",
        _event("cleared", {"canary": True}),
        "Alarm kontrolny zamknięty przez silnik",
        "Canary alarm closed by the engine",
    ),
    (
        "missed daily check-in",
        _event("raised", {"reason": "no_checkin", "window": "08:00–10:00"}),
        "Brak codziennego meldunku w oknie 08:00–10:00",
        "No daily check-in in the window 08:00–10:00",
    ),
    (
        "a welfare call needs a visit",
        _event(
            "raised",
            {"reason": "welfare_call", "outcome": "needs_visit", "call_reason": "discharge", "note": "Ma gorączkę"},
            "staff",
            ANNA,
        ),
        "Rozmowa kontrolna (po wypisie ze szpitala): potrzebna wizyta — Anna Nowak — „Ma gorączkę”",
        "Welfare call (after a hospital discharge): a visit is needed — Anna Nowak — „Ma gorączkę”",
    ),
    (
        "a welfare call not answered twice",
        _event("raised", {"reason": "welfare_call", "outcome": "no_answer", "attempt": 2}, "staff", ANNA),
        "Rozmowa kontrolna: mieszkaniec nie odbiera (2. próba) — Anna Nowak",
        "Welfare call: no answer (attempt 2) — Anna Nowak",
    ),
    (
        "a welfare call noted on its open alarm",
        _event(
            "note",
            {"action": "welfare_call", "outcome": "no_answer", "attempt": 2, "call_reason": "weekly"},
            "staff",
            ANNA,
        ),
        "Rozmowa kontrolna (cotygodniowa): mieszkaniec nie odbiera (2. próba) — Anna Nowak",
        "Welfare call (weekly): no answer (attempt 2) — Anna Nowak",
    ),
    (
        "raised by the system",
        _event("raised", {"reason": "no_message"}),
        "Alarm techniczny zgłoszony przez system (no_message)",
        "Technical alarm raised by the system (no_message)",
    ),
    (
        "raised by a call from an unknown number",
        _event("raised", {"reason": "voice_call", "caller": "unknown", "number": "+48 *** *** 999"}),
        "Połączenie do centrum: nieznany numer (+48 *** *** 999)",
        "A call to the centre: an unknown number (+48 *** *** 999)",
    ),
    ("repeat", _event("repeat", {}, "band"), "Ponowne naciśnięcie przycisku", "The button pressed again"),
    ("claim", _event("claimed", {}, "staff", ANNA), "Przyjęty — Anna Nowak", "Claimed — Anna Nowak"),
    (
        "release by hand",
        _event("released", {"claimed_by": 3}, "staff", ANNA),
        "Oddany do kolejki — Anna Nowak",
        "Released to the queue — Anna Nowak",
    ),
    (
        "release: no progress",
        _event("released", {"reason": "claimed_no_progress", "idle_s": 960}),
        "Wrócił do kolejki: przyjęty, ale bez działań od 16 min",
        "Back in the queue: claimed, but no action for 16 min",
    ),
    (
        "resolve",
        _event("resolved", {"outcome": "ambulance_called", "note": "ZRM w drodze"}, "staff", ANNA),
        "Zamknięty: Wezwano pogotowie (112) — Anna Nowak — „ZRM w drodze”",
        "Closed: Emergency services called (112) — Anna Nowak — „ZRM w drodze”",
    ),
    (
        "auto clear",
        _event("cleared", {"outcome": "auto_cleared"}),
        "Zamknięty przez system: przyczyna ustąpiła",
        "Closed by the system: the cause is gone",
    ),
    (
        "cancel by resident",
        _event("cancelled", {"seconds_after_fall": 12.5}, "band"),
        "Odwołany przez mieszkańca przyciskiem (12.5 s po upadku)",
        "Cancelled by the resident on the band (12.5 s after the fall)",
    ),
    (
        "cancel refused",
        _event("cancel_requested", {"why_not_cancelled": "claimed"}, "band"),
        "Mieszkaniec odwołał na opasce, alarm nadal otwarty: alarm był już przyjęty",
        "Resident cancelled on the band, alarm left open: the alarm was already claimed",
    ),
    (
        "note",
        _event("note", {"note": "Dzwonię."}, "staff", ANNA),
        "Notatka — Anna Nowak: „Dzwonię.”",
        "Note — Anna Nowak: „Dzwonię.”",
    ),
    (
        "resident call",
        _event("note", {"action": "resident_call", "call_outcome": "no_answer", "by_hand": True}, "staff", ANNA),
        "Rozmowa z mieszkańcem: nie odbiera — Anna Nowak",
        "Call with the resident: no answer — Anna Nowak",
    ),
    (
        "action plan step done",
        _event(
            "note",
            {
                "action": "plan_step",
                "position": 2,
                "label": "Zadzwoń do: Ewa Kowalska (córka)",
                "label_en": "Call: Ewa Kowalska (córka)",
                "step_status": "done",
                "outcome": "jedzie, 15 min",
            },
            "staff",
            ANNA,
        ),
        "Plan, krok 2: Zadzwoń do: Ewa Kowalska (córka) — zrobione: jedzie, 15 min — Anna Nowak",
        "Plan, step 2: Call: Ewa Kowalska (córka) — done: jedzie, 15 min — Anna Nowak",
    ),
    (
        "action plan step skipped",
        _event(
            "note",
            {"action": "plan_step", "position": 1, "label": "Zadzwoń do mieszkańca", "step_status": "skipped"},
            "staff",
            ANNA,
        ),
        "Plan, krok 1: Zadzwoń do mieszkańca — pominięte — Anna Nowak",
        "Plan, step 1: Zadzwoń do mieszkańca — skipped — Anna Nowak",
    ),
    (
        "manual SMS to a relative",
        _event(
            "escalated", {"by_hand": True, "channel": "sms", "targets": ["contacts"], "contact_id": 7}, "staff", ANNA
        ),
        "SMS zlecony ręcznie do Ewa Kowalska — Anna Nowak",
        "SMS queued by hand to Ewa Kowalska — Anna Nowak",
    ),
    (
        "manual call to a relative",
        _event(
            "escalated", {"by_hand": True, "channel": "voice", "targets": ["contacts"], "contact_id": 7}, "staff", ANNA
        ),
        "Połączenie zlecone ręcznie do Ewa Kowalska — Anna Nowak",
        "Call placed by hand to Ewa Kowalska — Anna Nowak",
    ),
    (
        "passed to the supervisor",
        _event("escalated", {"by_hand": True, "targets": ["supervisor"], "note": "Nie wiem co dalej"}, "staff", ANNA),
        "Przekazany koordynatorowi — Anna Nowak — „Nie wiem co dalej”",
        "Passed to the supervisor — Anna Nowak — „Nie wiem co dalej”",
    ),
    (
        "console step",
        _event("escalated", {"step": 1, "channel": "console", "targets": ["operators"], "sound": True}),
        "Eskalacja, krok 1: operatorzy (konsola) — z dźwiękiem",
        "Escalation, step 1: operators (console) — with sound",
    ),
    (
        "overdue step",
        _event("escalated", {"step": 2, "channel": "console", "targets": ["supervisor"], "overdue": True}),
        "Eskalacja, krok 2: koordynator (konsola) — alarm po czasie",
        "Escalation, step 2: supervisor (console) — alarm overdue",
    ),
    (
        "voice step to a relative",
        _event(
            "escalated", {"step": 3, "channel": "voice", "targets": ["contacts"], "contact_id": 7, "contact_number": 1}
        ),
        "Eskalacja, krok 3: bliscy (połączenie) — kontakt nr 1: Ewa Kowalska",
        "Escalation, step 3: relatives (call) — contact 1: Ewa Kowalska",
    ),
    (
        "no relative left",
        _event("escalated", {"step": 3, "channel": "voice", "targets": ["contacts"], "contacts": "none left"}),
        "Eskalacja, krok 3: bliscy (połączenie) — wszyscy bliscy już powiadomieni",
        "Escalation, step 3: relatives (call) — every relative already notified",
    ),
    (
        "nobody on duty",
        _event(
            "escalated",
            {"step": 1, "channel": "sms", "targets": ["on_duty:supervisor"], "on_duty:supervisor": "nobody on duty"},
        ),
        "Eskalacja, krok 1: koordynator dyżurny (SMS) — nikt nie ma dyżuru (koordynator dyżurny)",
        "Escalation, step 1: supervisor on duty (SMS) — nobody on duty (supervisor on duty)",
    ),
    (
        "relative going",
        _event("escalated", {"reason": "relative_going", "contact_id": 7}),
        "Ewa Kowalska jedzie — kolejni bliscy nie są powiadamiani",
        "Ewa Kowalska is going — no further relatives are notified",
    ),
    (
        "arrival not confirmed",
        _event("escalated", {"reason": "arrival_not_confirmed", "contact_id": 7}),
        "Brak potwierdzenia dotarcia: Ewa Kowalska — alarm dla operatorów i koordynatora",
        "Arrival not confirmed: Ewa Kowalska — operators and supervisor alerted",
    ),
    (
        "claimed without progress",
        _event("escalated", {"reason": "claimed_no_progress", "idle_s": 900}),
        "Koordynator powiadomiony: alarm przyjęty bez działań",
        "Supervisor alerted: claimed without action",
    ),
    (
        "wait skipped: nobody at the console",
        _event(
            "escalated",
            {
                "reason": "wait_skipped",
                "why": "no_console",
                "after_step": 2,
                "next_step": 3,
                "wait_s": 120,
                "kept_s": 59,
            },
        ),
        "Pominięto oczekiwanie po kroku 2 (120 s): nikt nie był przy konsoli — krok 3 wcześniej, "
        "po 59 s na reakcję koordynatora",
        "Skipped the wait after step 2 (120 s): no operator console was connected — step 3 comes early, "
        "after 59 s for the supervisor to act",
    ),
    (
        "an operator back: the policy's wait restored",
        _event(
            "escalated",
            {"reason": "wait_restored", "next_step": 3, "next_due_at": "2026-12-04T07:03:00+00:00"},
        ),
        "Operator znów przy konsoli: krok 3 w swoim czasie (08:03:00)",
        "An operator is back at the console: step 3 at its own time (08:03:00)",
    ),
    (
        "unattended: the supervisor on duty paged",
        _event(
            "escalated",
            {
                "reason": "unattended",
                "why": "no_console",
                "channel": "sms",
                "targets": ["on_duty:supervisor"],
                "on_duty:supervisor": 4,
                "names": {"on_duty:supervisor": "Nocna Koordynatorka"},
            },
        ),
        "Centrum bez operatora — SMS do: koordynator dyżurny (Nocna Koordynatorka)",
        "Centre unattended — SMS to: supervisor on duty (Nocna Koordynatorka)",
    ),
    (
        "unattended: nobody on duty",
        _event(
            "escalated",
            {
                "reason": "unattended",
                "channel": "voice",
                "targets": ["on_duty:supervisor"],
                "on_duty:supervisor": "nobody on duty",
            },
        ),
        "Centrum bez operatora — połączenie do: koordynator dyżurny — nikt nie ma dyżuru",
        "Centre unattended — call to: supervisor on duty — nobody on duty",
    ),
    (
        "test alarm closed",
        _event("resolved", {"outcome": "installation_test_ok", "installation_test": True}, "staff", ANNA),
        "Zamknięty: Test instalacyjny zakończony — Anna Nowak",
        "Closed: Installation test completed — Anna Nowak",
    ),
    (
        "SMS delivered",
        _event(
            "delivery",
            {
                "notification_id": 3,
                "channel": "sms",
                "template": "sms_alert",
                "contact_id": 7,
                "provider_status": "delivered",
            },
        ),
        "SMS do Ewa Kowalska: doręczony",
        "SMS to Ewa Kowalska: delivered",
    ),
    (
        "call not answered",
        _event(
            "delivery",
            {
                "notification_id": 4,
                "channel": "voice",
                "template": "voice_alert",
                "contact_id": 7,
                "provider_status": "no-answer",
            },
        ),
        "Połączenie do Ewa Kowalska: nie odebrał(a)",
        "Call to Ewa Kowalska: not answered",
    ),
    (
        "SMS undelivered, with Twilio's code",
        _event(
            "delivery",
            {
                "channel": "sms",
                "template": "sms_alert",
                "contact_id": 7,
                "provider_status": "undelivered",
                "error_code": 30003,
            },
        ),
        "SMS do Ewa Kowalska: niedoręczony [30003]",
        "SMS to Ewa Kowalska: undelivered [30003]",
    ),
    (
        "test mode: nothing sent",
        _event(
            "delivery",
            {
                "channel": "voice",
                "template": "fallback_voice",
                "contact_id": None,
                "to_phone": "+48 *** *** 567",
                "provider_status": "not_sent_test_mode",
            },
        ),
        "Połączenie (połączenie zamiast nieudanego SMS) do +48 *** *** 567: nie wysłano – tryb próbny",
        "Call (call instead of a failed SMS) to +48 *** *** 567: not sent – test mode",
    ),
    (
        "call placed by the operator to a relative",
        _event(
            "call",
            {"call_id": 1, "direction": "outbound", "target": "contact", "target_id": 7, "event": "placed"},
            "staff",
            ANNA,
        ),
        "Rozmowa z: Ewa Kowalska — zlecona — Anna Nowak; najpierw dzwoni telefon operatora",
        "Call to Ewa Kowalska placed — Anna Nowak; the operator's phone rings first",
    ),
    (
        "call to the band answered",
        _event("call", {"call_id": 1, "direction": "outbound", "target": "band", "event": "answered", "leg": "far"}),
        "Rozmowa z opaską (jej SIM) — odebrane",
        "Call with the band (its SIM) — answered",
    ),
    (
        "call busy",
        _event("call", {"call_id": 1, "direction": "outbound", "target": "resident", "event": "busy", "leg": "far"}),
        "Rozmowa z podopiecznym — zajęte",
        "Call with the resident — busy",
    ),
    (
        "the operator's own phone not answered",
        _event(
            "call", {"call_id": 1, "direction": "outbound", "target": "band", "event": "no_answer", "leg": "operator"}
        ),
        "Telefon operatora: nie odbiera",
        "The operator's phone: no answer",
    ),
    (
        "call completed with its length",
        _event(
            "call", {"call_id": 1, "direction": "outbound", "target": "band", "event": "completed", "duration_s": 95}
        ),
        "Rozmowa z opaską (jej SIM) zakończona, czas 1:35",
        "Call with the band (its SIM) ended, 1:35 long",
    ),
    (
        "incoming call from a band",
        _event(
            "call",
            {
                "call_id": 2,
                "direction": "inbound",
                "target": "band",
                "event": "incoming",
                "caller": "band",
                "number": "+48 *** *** 111",
            },
        ),
        "Połączenie przychodzące: opaska (jej SIM) (+48 *** *** 111)",
        "Incoming call: the band (its SIM) (+48 *** *** 111)",
    ),
    (
        "the caller hung up while waiting",
        _event("call", {"call_id": 2, "direction": "inbound", "target": "band", "event": "abandoned", "waited_s": 42}),
        "Dzwoniący rozłączył się po 42 s oczekiwania",
        "The caller hung up after waiting 42 s",
    ),
    (
        "recording deleted at the end of retention",
        _event(
            "call",
            {
                "call_id": 2,
                "direction": "inbound",
                "target": "resident",
                "event": "recording_deleted",
                "why": "retention",
            },
        ),
        "Nagranie rozmowy usunięte: minął okres przechowywania",
        "Call recording deleted: the retention period ended",
    ),
    (
        "relative answers yes",
        _event(RESPONSE_EVENT, {"answer": "going", "via": "sms"}, "contact", "Ewa Kowalska"),
        "Odpowiedź: Ewa Kowalska — jedzie (TAK) (SMS)",
        "Answer: Ewa Kowalska — going (YES) (SMS)",
    ),
    (
        "relative answers no by key",
        _event(RESPONSE_EVENT, {"answer": "cannot", "via": "voice"}, "contact", "Ewa Kowalska"),
        "Odpowiedź: Ewa Kowalska — nie może (NIE) (klawisz w rozmowie)",
        "Answer: Ewa Kowalska — cannot (NO) (keypad)",
    ),
    (
        "opt out",
        _event(OPT_OUT, {"via": "sms"}, "contact", "Ewa Kowalska"),
        "Ewa Kowalska wypisał(a) się z SMS (STOP) — alarmy dostanie telefonem",
        "Ewa Kowalska opted out of SMS (STOP) — alerts come as calls",
    ),
    (
        "opt in",
        _event(OPT_IN, {"via": "sms"}, "contact", "Ewa Kowalska"),
        "Ewa Kowalska znów przyjmuje SMS (START)",
        "Ewa Kowalska accepts SMS again (START)",
    ),
    (
        "medical notes",
        _event("medical_notes_opened", {}, "staff", ANNA),
        "Otwarto informacje medyczne — Anna Nowak",
        "Medical notes opened — Anna Nowak",
    ),
    (
        "key safe",
        _event("key_safe_code_opened", {}, "staff", ANNA),
        "Otwarto kod sejfu na klucz — Anna Nowak",
        "Key safe code opened — Anna Nowak",
    ),
]


def _platform_event_types() -> set[str]:
    """Every alarm_event type the platform writes: each lifecycle move's, plus those written directly."""
    moves = {spec.event_type for spec in MOVES.values()}
    direct = {
        "raised",
        "repeat",
        RESPONSE_EVENT,
        OPT_OUT,
        OPT_IN,
        "medical_notes_opened",
        "key_safe_code_opened",
        DELIVERY_EVENT,
        CALL_EVENT,
    }
    return moves | direct


@pytest.mark.parametrize(("case", "event", "polish", "english"), CASES, ids=[c[0] for c in CASES])
def test_wording(case: str, event: Event, polish: str, english: str) -> None:
    assert describe(event, Lang.PL) == polish
    assert describe(event, Lang.EN) == english


def test_every_event_type_the_platform_writes_has_wording_and_a_case() -> None:
    types = _platform_event_types()
    assert types - set(WORDING) == set()
    assert types - {event.type for _, event, _, _ in CASES} == set()


def test_no_two_cases_read_alike() -> None:
    """Different actions never share a line: an audit trail that names the wrong act is a defect."""
    polish = [text for _, _, text, _ in CASES]
    assert len(set(polish)) == len(polish)


def test_an_unknown_type_is_shown_as_it_is() -> None:
    assert describe(_event("something_new", {}, "staff", ANNA)) == "Something_new — Anna Nowak"


@pytest.mark.asyncio
async def test_the_api_timeline_names_a_manual_sms_as_such(centre: Centre) -> None:
    """The defect seen: a manual SMS to a relative read "Przekazany koordynatorowi"."""
    alarm = await centre.raise_alarm()
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{alarm}/claim")).status_code == 200
    [contact] = (await operator.get(f"/api/alarms/{alarm}")).json()["contacts"]
    sent = await operator.post(f"/api/alarms/{alarm}/notify", json={"contact_id": contact["id"], "channel": "sms"})
    assert sent.status_code == 201, sent.text
    passed = await operator.post(f"/api/alarms/{alarm}/escalate", json={"note": "proszę o decyzję"})
    assert passed.status_code in (200, 201), passed.text

    polish = [entry["text"] for entry in (await operator.get(f"/api/alarms/{alarm}")).json()["timeline"]]
    assert polish == [
        "Zgłoszenie z opaski",
        "Przyjęty — Ola Nowicka",
        f"SMS zlecony ręcznie do {contact['name']} — Ola Nowicka",
        "Przekazany koordynatorowi — Ola Nowicka — „proszę o decyzję”",
    ]
    english = (await operator.get(f"/api/alarms/{alarm}?lang=en")).json()["timeline"]
    assert english[2]["text"] == f"SMS queued by hand to {contact['name']} — Ola Nowicka"
    assert (await operator.get(f"/api/alarms/{alarm}?lang=xx")).status_code == 422
