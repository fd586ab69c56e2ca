"""What each alarm event says on the alarm's timeline, in Polish and English.

The timeline is the alarm's audit trail: each line must name the action exactly (a manual SMS to
a relative is not "passed to the supervisor"), who did it, and to whom. Every event type the
platform writes has its own wording here; an unknown type is shown as its raw name rather than
dressed up as something it is not (tests/test_timeline_text.py covers every type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alarm_center.reports.labels import OUTCOMES, SERVICES, Lang, label

# The centre's time zone: times in a line are the operators' local times.
LOCAL = ZoneInfo("Europe/Warsaw")


@dataclass(frozen=True)
class Event:
    """One alarm event as the timeline needs it."""

    type: str
    detail: Mapping[str, Any]
    actor_type: str = "system"
    actor_name: str | None = None
    # Names of the resident's contacts by id, for "SMS do Ewy Kowalskiej".
    contact_names: Mapping[int, str] = field(default_factory=dict)
    # Whom each call of the alarm was with, by call id (from the event that placed it).
    call_names: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Words:
    pl: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.pl if lang == Lang.PL else self.en


CHANNELS = {"sms": Words("SMS", "SMS"), "voice": Words("połączenie", "call"), "console": Words("konsola", "console")}
TARGETS = {
    "operators": Words("operatorzy", "operators"),
    "supervisor": Words("koordynator", "supervisor"),
    "contacts": Words("bliscy", "relatives"),
    "on_duty:supervisor": Words("koordynator dyżurny", "supervisor on duty"),
    "on_duty:responder": Words("opiekun dyżurny", "responder on duty"),
}
ANSWERS = {"going": Words("jedzie (TAK)", "going (YES)"), "cannot": Words("nie może (NIE)", "cannot (NO)")}
VIA = {
    "sms": Words("SMS", "SMS"),
    "voice": Words("klawisz w rozmowie", "keypad"),
    "link": Words("przycisk „Jadę” w linku", "the “Jadę” button of the link"),
}
PLAN_STEP_STATUS = {"done": Words("zrobione", "done"), "skipped": Words("pominięte", "skipped")}
CALL_OUTCOMES = {
    "answered": Words("odebrał(a), rozmawialiśmy", "answered, we talked"),
    "no_answer": Words("nie odbiera", "no answer"),
    "busy": Words("zajęte", "busy"),
    "voicemail": Words("poczta głosowa", "voicemail"),
    "wrong_number": Words("błędny numer", "wrong number"),
}
NOT_CANCELLED = {
    "claimed": Words("alarm był już przyjęty", "the alarm was already claimed"),
    "too late": Words("za późno po upadku", "too late after the fall"),
    "operator verifies": Words("operator potwierdza telefonicznie", "the operator verifies by phone"),
}
SKIP_REASONS = {"no_console": Words("nikt nie był przy konsoli", "no operator console was connected")}


def _word(table: Mapping[str, Words], key: Any, lang: Lang) -> str:
    words = table.get(str(key))
    return words(lang) if words else str(key)


def _by(event: Event, lang: Lang) -> str:
    """ " — Anna Nowak" for a person's act; nothing for the system's or the band's."""
    if not event.actor_name:
        return ""
    return f" — {event.actor_name}"


def _quoted(note: Any) -> str:
    return f" — „{note}”" if note else ""


def _contact(event: Event, lang: Lang) -> str:
    contact_id = event.detail.get("contact_id")
    if isinstance(contact_id, int) and contact_id in event.contact_names:
        return event.contact_names[contact_id]
    if contact_id is None:
        return Words("nikt z bliskich", "no relative")(lang)
    return Words(f"kontakt nr {contact_id} (usunięty)", f"contact {contact_id} (removed)")(lang)


def _targets(event: Event, lang: Lang) -> str:
    return ", ".join(_word(TARGETS, t, lang) for t in event.detail.get("targets") or [])


def _raised(e: Event, lang: Lang) -> str:
    reason = e.detail.get("reason")
    if reason == "voice_call":
        caller = _word(CALL_TARGETS, e.detail.get("caller"), lang)
        number = f" ({e.detail['number']})" if e.detail.get("number") else ""
        return Words(f"Połączenie do centrum: {caller}{number}", f"A call to the centre: {caller}{number}")(lang)
    if reason == "left_zone":
        return Words("Opaska poza strefą bezpieczną: ", "The band left the safe zone: ")(lang) + _zone_distance(e, lang)
    if reason == "canary_lost":
        stage = e.detail.get("stage", "")
        return Words(
            f"Alarm kontrolny nie przeszedł przez platformę (zatrzymał się: {stage})",
            f"The canary alarm did not come through the platform (stopped at: {stage})",
        )(lang)
    if reason == "welfare_call":
        return _welfare_call(e, lang)
    if reason == "no_checkin":
        window = e.detail.get("window", "")
        return Words(f"Brak codziennego meldunku w oknie {window}", f"No daily check-in in the window {window}")(lang)
    if e.actor_type == "band" or reason is None:
        return Words("Zgłoszenie z opaski", "Raised by the band")(lang)
    return Words(
        f"Alarm techniczny zgłoszony przez system ({reason})", f"Technical alarm raised by the system ({reason})"
    )(lang)


WELFARE_REASONS = {
    "weekly": Words("cotygodniowa", "weekly"),
    "discharge": Words("po wypisie ze szpitala", "after a hospital discharge"),
    "birthday": Words("urodzinowa", "birthday"),
}


def _welfare_call(e: Event, lang: Lang) -> str:
    """An operator's welfare call that needed action: raised the alarm, or noted on an open one."""
    why = WELFARE_REASONS.get(str(e.detail.get("call_reason")))
    which = f" ({why(lang)})" if why else ""
    if e.detail.get("outcome") == "needs_visit":
        what = Words("potrzebna wizyta", "a visit is needed")(lang)
    else:
        attempts = e.detail.get("attempt", 2)
        what = Words(f"mieszkaniec nie odbiera ({attempts}. próba)", f"no answer (attempt {attempts})")(lang)
    return (
        Words(f"Rozmowa kontrolna{which}: ", f"Welfare call{which}: ")(lang)
        + what
        + _by(e, lang)
        + _quoted(e.detail.get("note"))
    )


def _zone_distance(e: Event, lang: Lang) -> str:
    distance, radius = e.detail.get("distance_m"), e.detail.get("radius_m")
    accuracy = f" (±{e.detail['accuracy_m']} m)" if e.detail.get("accuracy_m") else ""
    return Words(
        f"{distance} m od domu{accuracy}, strefa {radius} m", f"{distance} m from home{accuracy}, zone {radius} m"
    )(lang)


def _released(e: Event, lang: Lang) -> str:
    if e.detail.get("reason") == "claimed_no_progress":
        minutes = int(e.detail.get("idle_s", 0)) // 60
        return Words(
            f"Wrócił do kolejki: przyjęty, ale bez działań od {minutes} min",
            f"Back in the queue: claimed, but no action for {minutes} min",
        )(lang)
    return Words(f"Oddany do kolejki{_by(e, lang)}", f"Released to the queue{_by(e, lang)}")(lang)


def _resolved(e: Event, lang: Lang) -> str:
    outcome = OUTCOMES[lang].get(str(e.detail.get("outcome")), str(e.detail.get("outcome", "")))
    return Words(f"Zamknięty: {outcome}", f"Closed: {outcome}")(lang) + _by(e, lang) + _quoted(e.detail.get("note"))


def _cleared(e: Event, lang: Lang) -> str:
    if e.detail.get("reason") == "canary_through":
        seconds = e.detail.get("seconds")
        return Words(
            f"Zamknięty przez system: alarm kontrolny znów przeszedł ({seconds} s)",
            f"Closed by the system: a canary came through again ({seconds} s)",
        )(lang)
    if e.detail.get("canary"):
        return Words("Alarm kontrolny zamknięty przez silnik", "Canary alarm closed by the engine")(lang)
    return Words("Zamknięty przez system: przyczyna ustąpiła", "Closed by the system: the cause is gone")(lang)


def _cancelled(e: Event, lang: Lang) -> str:
    seconds = e.detail.get("seconds_after_fall")
    after = Words(f" ({seconds} s po upadku)", f" ({seconds} s after the fall)")(lang) if seconds is not None else ""
    return Words("Odwołany przez mieszkańca przyciskiem", "Cancelled by the resident on the band")(lang) + after


def _cancel_requested(e: Event, lang: Lang) -> str:
    why = _word(NOT_CANCELLED, e.detail.get("why_not_cancelled"), lang)
    return Words(
        f"Mieszkaniec odwołał na opasce, alarm nadal otwarty: {why}",
        f"Resident cancelled on the band, alarm left open: {why}",
    )(lang)


def _note(e: Event, lang: Lang) -> str:
    if e.detail.get("action") == "resident_call":
        outcome = _word(CALL_OUTCOMES, e.detail.get("call_outcome"), lang)
        return (
            Words(f"Rozmowa z mieszkańcem: {outcome}", f"Call with the resident: {outcome}")(lang)
            + _by(e, lang)
            + _quoted(e.detail.get("note"))
        )
    if e.detail.get("action") == "plan_step":
        return _plan_step(e, lang)
    if e.detail.get("action") == "welfare_call":
        return _welfare_call(e, lang)
    if e.detail.get("action") == "zone_return":
        return Words("Opaska wróciła do strefy bezpiecznej: ", "The band is back in the safe zone: ")(
            lang
        ) + _zone_distance(e, lang)
    if e.detail.get("action") == "ladder":
        return _ladder(e, lang) + ("" if e.detail.get("via") else _by(e, lang))
    if e.detail.get("action") == "responder_link":
        to = _contact(e, lang)
        return Words(f"Link dla jadącego wysłany do: {to}", f"Responder link texted to {to}")(lang) + _by(e, lang)
    if e.detail.get("action") == "responder_report":
        who = e.detail.get("who") or e.actor_name
        return Words(f"Sytuacja opanowana — zgłasza {who}", f"Situation under control — reported by {who}")(lang) + (
            f": „{e.detail['remark']}”" if e.detail.get("remark") else ""
        )
    return Words("Notatka", "Note")(lang) + _by(e, lang) + f": „{e.detail.get('note', '')}”"


NO_CONTACT = {
    "no_answer": Words("mieszkaniec nie odbiera", "the resident does not answer"),
    "band_silent": Words("brak odpowiedzi przez opaskę", "no answer through the band"),
    "other": Words("brak kontaktu", "no contact"),
}


def _ladder(e: Event, lang: Lang) -> str:
    d = e.detail
    rung = d.get("rung")
    remark = f" — {d['remark']}" if d.get("remark") else ""
    if rung == "started":
        why = _word(NO_CONTACT, d.get("reason"), lang)
        return Words(f"Brak kontaktu z mieszkańcem: {why}", f"Resident cannot be reached: {why}")(lang) + remark
    if rung == "going":
        eta = d.get("eta_min")
        when = Words(f", będzie za ok. {eta} min", f", there in about {eta} min")(lang) if eta else ""
        return Words(f"Jedzie: {d.get('who')}", f"On the way: {d.get('who')}")(lang) + when + remark
    if rung == "nobody":
        return (
            Words("Nikt z kluczem ani opiekun nie może pojechać", "Nobody with a key and no responder can go")(lang)
            + remark
        )
    if rung == "dispatched":
        service = label(SERVICES, lang, str(d.get("service")))
        number = d.get("reference")
        reference = Words(f", nr zgłoszenia {number}", f", reference {number}")(lang) if number else ""
        return Words(f"Wezwano: {service}", f"Called: {service}")(lang) + reference + remark
    if rung == "arrived":
        return Words(f"Pomoc na miejscu: {d.get('who')}", f"Help on site: {d.get('who')}")(lang) + remark
    return f"ladder {rung}"


def _plan_step(e: Event, lang: Lang) -> str:
    d = e.detail
    said = _word(PLAN_STEP_STATUS, d.get("step_status"), lang)
    outcome = d.get("outcome")
    label_en = d.get("label_en") or d.get("label")
    return (
        Words(
            f"Plan, krok {d.get('position')}: {d.get('label')} — {said}",
            f"Plan, step {d.get('position')}: {label_en} — {said}",
        )(lang)
        + (f": {outcome}" if outcome else "")
        + _by(e, lang)
    )


def _escalated(e: Event, lang: Lang) -> str:
    d = e.detail
    reason = d.get("reason")
    if d.get("by_hand") and d.get("targets") == ["contacts"]:
        channel = d.get("channel")
        what = (
            Words("SMS zlecony ręcznie do", "SMS queued by hand to")
            if channel == "sms"
            else Words("Połączenie zlecone ręcznie do", "Call placed by hand to")
        )
        return f"{what(lang)} {_contact(e, lang)}{_by(e, lang)}"
    if d.get("by_hand"):
        return (
            Words("Przekazany koordynatorowi", "Passed to the supervisor")(lang) + _by(e, lang) + _quoted(d.get("note"))
        )
    if reason == "relative_going":
        return Words(
            f"{_contact(e, lang)} jedzie — kolejni bliscy nie są powiadamiani",
            f"{_contact(e, lang)} is going — no further relatives are notified",
        )(lang)
    if reason == "arrival_not_confirmed":
        return Words(
            f"Brak potwierdzenia dotarcia: {_contact(e, lang)} — alarm dla operatorów i koordynatora",
            f"Arrival not confirmed: {_contact(e, lang)} — operators and supervisor alerted",
        )(lang)
    if reason == "claimed_no_progress":
        return Words(
            "Koordynator powiadomiony: alarm przyjęty bez działań", "Supervisor alerted: claimed without action"
        )(lang)
    if reason == "wait_skipped":
        return _wait_skipped(e, lang)
    if reason == "unattended":
        return _unattended_page(e, lang)
    if reason == "wait_restored":
        return _wait_restored(e, lang)
    return _step(e, lang)


def _wait_skipped(e: Event, lang: Lang) -> str:
    d = e.detail
    why = _word(SKIP_REASONS, d.get("why"), lang)
    wait, kept = int(d.get("wait_s", 0)), int(d.get("kept_s", 0))
    after, following = d.get("after_step", "?"), d.get("next_step", "?")
    line = Words(
        f"Pominięto oczekiwanie po kroku {after} ({wait} s): {why} — krok {following} wcześniej",
        f"Skipped the wait after step {after} ({wait} s): {why} — step {following} comes early",
    )(lang)
    if kept:
        line += Words(f", po {kept} s na reakcję koordynatora", f", after {kept} s for the supervisor to act")(lang)
    return line


def _wait_restored(e: Event, lang: Lang) -> str:
    following = e.detail.get("next_step", "?")
    due = e.detail.get("next_due_at")
    when = ""
    if isinstance(due, str):
        try:
            when = f" ({datetime.fromisoformat(due).astimezone(LOCAL):%H:%M:%S})"
        except ValueError:
            when = ""
    return Words(
        f"Operator znów przy konsoli: krok {following} w swoim czasie{when}",
        f"An operator is back at the console: step {following} at its own time{when}",
    )(lang)


def _unattended_page(e: Event, lang: Lang) -> str:
    d = e.detail
    channel = _word(CHANNELS, d.get("channel"), lang)
    targets = _targets(e, lang)
    names = d.get("names") or {}
    who = ", ".join(str(name) for name in names.values()) if isinstance(names, dict) else ""
    head = Words(f"Centrum bez operatora — {channel} do: {targets}", f"Centre unattended — {channel} to: {targets}")(
        lang
    )
    if any(d.get(t) == "nobody on duty" for t in (d.get("targets") or [])):
        return head + Words(" — nikt nie ma dyżuru", " — nobody on duty")(lang)
    return f"{head} ({who})" if who else head


def _step(e: Event, lang: Lang) -> str:
    d = e.detail
    channel = _word(CHANNELS, d.get("channel"), lang)
    head = Words(f"Eskalacja, krok {d.get('step', '?')}", f"Escalation, step {d.get('step', '?')}")(lang)
    parts = [f"{head}: {_targets(e, lang)} ({channel})"]
    if "contact_number" in d:
        parts.append(
            Words(
                f"kontakt nr {d['contact_number']}: {_contact(e, lang)}",
                f"contact {d['contact_number']}: {_contact(e, lang)}",
            )(lang)
        )
    if d.get("contacts") in ("none", "none left"):
        parts.append(
            Words("brak bliskich do powiadomienia", "no relative to notify")(lang)
            if d["contacts"] == "none"
            else Words("wszyscy bliscy już powiadomieni", "every relative already notified")(lang)
        )
    for target in ("on_duty:supervisor", "on_duty:responder"):
        if d.get(target) == "nobody on duty":
            parts.append(
                Words(
                    f"nikt nie ma dyżuru ({_word(TARGETS, target, lang)})",
                    f"nobody on duty ({_word(TARGETS, target, lang)})",
                )(lang)
            )
    if d.get("overdue"):
        parts.append(Words("alarm po czasie", "alarm overdue")(lang))
    if d.get("sound"):
        parts.append(Words("z dźwiękiem", "with sound")(lang))
    return " — ".join(parts)


def _contact_response(e: Event, lang: Lang) -> str:
    answer = _word(ANSWERS, e.detail.get("answer"), lang)
    via = _word(VIA, e.detail.get("via"), lang)
    who = e.actor_name or e.detail.get("responder_phone") or Words("nieznany numer", "unknown number")(lang)
    return Words(f"Odpowiedź: {who} — {answer} ({via})", f"Answer: {who} — {answer} ({via})")(lang)


def _opted(stop: bool) -> Callable[[Event, Lang], str]:
    def words(e: Event, lang: Lang) -> str:
        who = e.actor_name or Words("bliski", "a relative")(lang)
        if stop:
            return Words(
                f"{who} wypisał(a) się z SMS (STOP) — alarmy dostanie telefonem",
                f"{who} opted out of SMS (STOP) — alerts come as calls",
            )(lang)
        return Words(f"{who} znów przyjmuje SMS (START)", f"{who} accepts SMS again (START)")(lang)

    return words


# Twilio's end statuses (MessageStatus, CallStatus) and our own for a message that never left.
DELIVERY = {
    "delivered": Words("doręczony", "delivered"),
    "read": Words("przeczytany", "read"),
    "undelivered": Words("niedoręczony", "undelivered"),
    "failed": Words("nieudany", "failed"),
    "canceled": Words("anulowany", "cancelled"),
    "completed": Words("odebrane, zakończone", "answered, completed"),
    "busy": Words("zajęte", "busy"),
    "no-answer": Words("nie odebrał(a)", "not answered"),
    "not_sent_test_mode": Words("nie wysłano – tryb próbny", "not sent – test mode"),
}
TEMPLATE_NAMES = {
    "fallback_voice": Words("połączenie zamiast nieudanego SMS", "call instead of a failed SMS"),
    "all_clear": Words("koniec alarmu", "all clear"),
    "reply_thanks": Words("potwierdzenie odpowiedzi", "reply confirmation"),
}


def _delivery(e: Event, lang: Lang) -> str:
    d = e.detail
    channel = _word(CHANNELS, d.get("channel"), lang)
    to = _contact(e, lang) if d.get("contact_id") is not None else str(d.get("to_phone") or "?")
    status = _word(DELIVERY, d.get("provider_status", "?"), lang)
    what = f" ({_word(TEMPLATE_NAMES, d['template'], lang)})" if d.get("template") in TEMPLATE_NAMES else ""
    code = f" [{d['error_code']}]" if d.get("error_code") else ""
    return Words(f"{channel}{what} do {to}: {status}{code}", f"{channel}{what} to {to}: {status}{code}")(lang)


CALL_TARGETS = {
    "band": Words("opaska (jej SIM)", "the band (its SIM)"),
    "resident": Words("podopieczny", "the resident"),
    "contact": Words("bliski", "a relative"),
    "responder": Words("opiekun dyżurny", "the on-duty responder"),
    "unknown": Words("nieznany numer", "an unknown number"),
}
# "Rozmowa z podopiecznym": the instrumental case, for a call with someone not named.
CALL_WITH = {
    "band": Words("z opaską (jej SIM)", "with the band (its SIM)"),
    "resident": Words("z podopiecznym", "with the resident"),
    "contact": Words("z bliskim", "with a relative"),
    "responder": Words("z opiekunem dyżurnym", "with the on-duty responder"),
    "unknown": Words("z nieznanym numerem", "with an unknown number"),
}
LEG_OUTCOMES = {
    "busy": Words("zajęte", "busy"),
    "no_answer": Words("nie odbiera", "no answer"),
    "failed": Words("nieudane", "failed"),
    "canceled": Words("anulowane", "cancelled"),
}
ERASED_WHY = {
    "retention": Words("minął okres przechowywania", "the retention period ended"),
    "erasure": Words("usunięcie danych mieszkańca", "the resident's data erased"),
    "no_consent": Words("brak zgody mieszkańca na nagrywanie", "no consent to recording"),
}


def _minutes(seconds: Any) -> str:
    total = int(seconds) if isinstance(seconds, int | float) else 0
    return f"{total // 60}:{total % 60:02d}"


def _callee_name(e: Event) -> str | None:
    """The far end's own name, when the call's events give one."""
    d = e.detail
    if isinstance(d.get("target_name"), str) and d["target_name"]:
        return str(d["target_name"])
    call_id, target_id = d.get("call_id"), d.get("target_id")
    if isinstance(call_id, int) and call_id in e.call_names:
        return e.call_names[call_id]
    if d.get("target") == "contact" and isinstance(target_id, int) and target_id in e.contact_names:
        return e.contact_names[target_id]
    return None


def _callee(e: Event, lang: Lang) -> str:
    return _callee_name(e) or _word(CALL_TARGETS, e.detail.get("target"), lang)


def _with(e: Event, lang: Lang) -> str:
    """ "z: Ewa Kowalska" (a name, not declined) or "z podopiecznym"; "with …" in English."""
    name = _callee_name(e)
    if name:
        return Words(f"z: {name}", f"with {name}")(lang)
    return _word(CALL_WITH, e.detail.get("target"), lang)


def _call(e: Event, lang: Lang) -> str:
    """A telephone call's step, from the operator's act or Twilio's callbacks (alarm_center/voice)."""
    d = e.detail
    event, who, by, w = d.get("event"), _callee(e, lang), _by(e, lang), _with(e, lang)
    operator_leg = d.get("leg") == "operator"
    if event == "placed":
        return Words(
            f"Rozmowa {w} — zlecona{by}; najpierw dzwoni telefon operatora",
            f"Call to {who} placed{by}; the operator's phone rings first",
        )(lang)
    if event == "operator_answered":
        return Words(f"Rozmowa {w} — operator odebrał, łączenie", f"Call to {who} — operator answered, connecting")(
            lang
        )
    if event == "ringing":
        return Words(f"Rozmowa {w} — dzwoni", f"Call to {who} — ringing")(lang)
    if event == "answered":
        if operator_leg and d.get("direction") == "inbound":
            return Words(f"Połączenie przychodzące odebrane{by}", f"Incoming call answered{by}")(lang)
        return Words(f"Rozmowa {w} — odebrane", f"Call {w} — answered")(lang)
    if event in LEG_OUTCOMES:
        outcome = _word(LEG_OUTCOMES, event, lang)
        error = f" ({d['error']})" if d.get("error") else ""
        if operator_leg:
            return Words(f"Telefon operatora: {outcome}{error}", f"The operator's phone: {outcome}{error}")(lang)
        return Words(f"Rozmowa {w} — {outcome}{error}", f"Call {w} — {outcome}{error}")(lang)
    if event == "completed":
        length = _minutes(d.get("duration_s"))
        return Words(f"Rozmowa {w} zakończona, czas {length}", f"Call {w} ended, {length} long")(lang)
    if event == "added":
        return Words(f"Dołączono do rozmowy: {who}{by}", f"Added to the call: {who}{by}")(lang)
    if event == "hung_up":
        return Words(f"Rozmowa {w} — rozłączona{by}", f"Call {w} — hung up{by}")(lang)
    if event == "incoming":
        caller = _word(CALL_TARGETS, d.get("caller", d.get("target")), lang)
        number = f" ({d['number']})" if d.get("number") else ""
        return Words(f"Połączenie przychodzące: {caller}{number}", f"Incoming call: {caller}{number}")(lang)
    if event == "answering":
        return Words(
            f"Odbiór połączenia{by} — dzwoni telefon operatora", f"Answering the call{by} — the operator's phone rings"
        )(lang)
    if event == "abandoned":
        return Words(
            f"Dzwoniący rozłączył się po {int(d.get('waited_s', 0))} s oczekiwania",
            f"The caller hung up after waiting {int(d.get('waited_s', 0))} s",
        )(lang)
    if event == "recording":
        length = _minutes(d.get("duration_s"))
        return Words(f"Nagranie rozmowy {w} ({length})", f"Recording of the call {w} ({length})")(lang)
    if event == "recording_played":
        return Words(f"Odsłuchano nagranie rozmowy{by}", f"Call recording played{by}")(lang)
    if event == "recording_delete_pending":
        return Words(
            "Nagranie do usunięcia (dane mieszkańca usunięte) — operator telefonii nieosiągalny, usunięcie ponowione",
            "Recording due for deletion (resident erased) — the telephone provider unreachable, to be retried",
        )(lang)
    if event == "recording_deleted":
        why = _word(ERASED_WHY, d.get("why"), lang)
        return Words(f"Nagranie rozmowy usunięte: {why}", f"Call recording deleted: {why}")(lang)
    return Words(f"Rozmowa {w} — {event}{by}", f"Call {w} — {event}{by}")(lang)


def _key_safe_opened(e: Event, lang: Lang) -> str:
    if e.detail.get("via") == "responder_link":
        who = e.detail.get("who") or e.actor_name
        return Words(f"Otwarto kod sejfu na klucz — {who} (link)", f"Key safe code opened — {who} (link)")(lang)
    return Words("Otwarto kod sejfu na klucz", "Key safe code opened")(lang) + _by(e, lang)


def _simple(pl: str, en: str, with_actor: bool = True) -> Callable[[Event, Lang], str]:
    def words(e: Event, lang: Lang) -> str:
        return Words(pl, en)(lang) + (_by(e, lang) if with_actor else "")

    return words


WORDING: dict[str, Callable[[Event, Lang], str]] = {
    "raised": _raised,
    "repeat": _simple("Ponowne naciśnięcie przycisku", "The button pressed again", with_actor=False),
    "claimed": _simple("Przyjęty", "Claimed"),
    "released": _released,
    "resolved": _resolved,
    "cleared": _cleared,
    "cancelled": _cancelled,
    "cancel_requested": _cancel_requested,
    "note": _note,
    "escalated": _escalated,
    "contact_response": _contact_response,
    "contact_opted_out": _opted(stop=True),
    "contact_opted_in": _opted(stop=False),
    "medical_notes_opened": _simple("Otwarto informacje medyczne", "Medical notes opened"),
    "key_safe_code_opened": _key_safe_opened,
    "delivery": _delivery,
    "call": _call,
}


def describe(event: Event, lang: Lang = Lang.PL) -> str:
    """The timeline line for one event (without its time), starting with a capital letter."""
    words = WORDING.get(event.type)
    line = f"{event.type}{_by(event, lang)}" if words is None else words(event, lang)
    return line[:1].upper() + line[1:]
