"""The funder's figures as lines (key, words, base, this month, the month before, the year to date):
the CSV, the PDF and the console's page all print these, so they never disagree.

In the year-to-date column, "at the start" is on 1 January and "joined"/"left" count the whole
year so far; bands are counted as they are now in every column."""

from __future__ import annotations

from dataclasses import dataclass

from alarm_center.reports.funder import STILL_OPEN, FunderFigures
from alarm_center.reports.labels import Lang

WORDS = {
    Lang.PL: {
        "participants.at_start": ("Uczestnicy na początek miesiąca", "osoby z przypisaną opaską"),
        "participants.joined": ("Przyjęci do programu w miesiącu", "osoby"),
        "participants.left": ("Odeszli z programu (wymiana opaski się nie liczy)", "osoby"),
        "participants.at_end": ("Uczestnicy na koniec okresu", "osoby z przypisaną opaską"),
        "bands.in_use": ("Opaski w użyciu u mieszkańców gminy", "opaski aktywne"),
        "bands.in_stock": ("Opaski w magazynie centrum", "opaski nieprzypisane"),
        "alarms.sos": ("Alarmy SOS", "alarmy (bez testowych)"),
        "alarms.fall": ("Upadki", "alarmy (bez testowych)"),
        "alarms.other": ("Inne alarmy o osobie (połączenie, meldunek, strefa)", "alarmy (bez testowych)"),
        "alarms.technical": ("Alarmy techniczne (bateria, łączność, zdjęta)", "alarmy (bez testowych)"),
        "alarms.test": ("Alarmy testowe (testy instalacyjne)", "alarmy testowe"),
        "interventions.operator_only": ("Interwencje: tylko operator", "zamknięte alarmy o osobie"),
        "interventions.relative": ("Interwencje: bliski na miejscu", "zamknięte alarmy o osobie"),
        "interventions.responder": ("Interwencje: opiekun / ratownik gminny", "zamknięte alarmy o osobie"),
        "interventions.ambulance": ("Interwencje: pogotowie (112)", "zamknięte alarmy o osobie"),
        "interventions.police_fire": ("Interwencje: policja / straż (wejście siłą)", "zamknięte alarmy o osobie"),
        "interventions.false_alarm": ("Fałszywe alarmy", "zamknięte alarmy o osobie"),
        f"interventions.{STILL_OPEN}": ("Alarmy jeszcze otwarte", "alarmy o osobie"),
    },
    Lang.EN: {
        "participants.at_start": ("Participants at the start of the month", "people with a band bound"),
        "participants.joined": ("Joined the programme in the month", "people"),
        "participants.left": ("Left the programme (a band swap is not leaving)", "people"),
        "participants.at_end": ("Participants at the end of the period", "people with a band bound"),
        "bands.in_use": ("Bands in use by the municipality's residents", "active bands"),
        "bands.in_stock": ("Bands in the centre's stock", "unbound bands"),
        "alarms.sos": ("SOS alarms", "alarms (tests excluded)"),
        "alarms.fall": ("Falls", "alarms (tests excluded)"),
        "alarms.other": ("Other alarms about a person (call, check-in, zone)", "alarms (tests excluded)"),
        "alarms.technical": ("Technical alarms (battery, connection, band off)", "alarms (tests excluded)"),
        "alarms.test": ("Test alarms (installation tests)", "test alarms"),
        "interventions.operator_only": ("Interventions: operator only", "closed alarms about a person"),
        "interventions.relative": ("Interventions: a relative attended", "closed alarms about a person"),
        "interventions.responder": ("Interventions: carer / responder", "closed alarms about a person"),
        "interventions.ambulance": ("Interventions: ambulance (112)", "closed alarms about a person"),
        "interventions.police_fire": ("Interventions: police / fire (forced entry)", "closed alarms about a person"),
        "interventions.false_alarm": ("False alarms", "closed alarms about a person"),
        f"interventions.{STILL_OPEN}": ("Alarms still open", "alarms about a person"),
    },
}
HEADINGS = {
    Lang.PL: ("Dla grantodawcy (KWS, projekty UE)", "Wskaźnik", "Podstawa", "Miesiąc", "Poprzedni", "Od 1.01"),
    Lang.EN: ("For the funder (KWS, EU projects)", "Figure", "Base", "Month", "Previous", "Year to date"),
}


@dataclass(frozen=True)
class FunderLine:
    key: str
    words: str
    base: str
    value: int
    previous: int | None
    year_to_date: int | None = None


def _values(figures: FunderFigures) -> dict[str, int]:
    p, a = figures.participants, figures.alarms
    values = {
        "participants.at_start": p.at_start,
        "participants.joined": p.joined,
        "participants.left": p.left,
        "participants.at_end": p.at_end,
        "bands.in_use": figures.bands_in_use,
        "bands.in_stock": figures.bands_in_stock,
        "alarms.sos": a.sos,
        "alarms.fall": a.fall,
        "alarms.other": a.other_about_a_person,
        "alarms.technical": a.technical,
        "alarms.test": a.test,
    }
    values.update({f"interventions.{kind}": count for kind, count in figures.interventions.items()})
    return values


def funder_lines(
    figures: FunderFigures, previous: FunderFigures | None, lang: Lang, year: FunderFigures | None = None
) -> list[FunderLine]:
    now = _values(figures)
    before = _values(previous) if previous is not None else {}
    so_far = _values(year) if year is not None else {}
    return [FunderLine(key, *WORDS[lang][key], value, before.get(key), so_far.get(key)) for key, value in now.items()]
