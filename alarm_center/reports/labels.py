"""The report's words in Polish (the default) and English."""

from __future__ import annotations

from enum import StrEnum


class Lang(StrEnum):
    PL = "pl"
    EN = "en"


KINDS = {
    Lang.PL: {
        "sos": "SOS",
        "fall": "Upadek",
        "band_offline": "Opaska bez łączności",
        "battery_low": "Słaba bateria",
        "not_worn": "Opaska zdjęta",
        "voice_call": "Połączenie",
        "no_checkin": "Brak codziennego meldunku",
    },
    Lang.EN: {
        "sos": "SOS",
        "fall": "Fall",
        "band_offline": "Band offline",
        "battery_low": "Battery low",
        "not_worn": "Band not worn",
        "voice_call": "Voice call",
        "no_checkin": "Missed daily check-in",
    },
}

SERVICES = {
    Lang.PL: {"ambulance": "pogotowie (ZRM)", "police": "policja", "fire": "straż pożarna"},
    Lang.EN: {"ambulance": "ambulance", "police": "police", "fire": "fire brigade"},
}

OUTCOMES = {
    Lang.PL: {
        "false_alarm": "Fałszywy alarm",
        "resident_ok_after_call": "Mieszkaniec OK po rozmowie",
        "relative_attended": "Bliski na miejscu",
        "carer_sent": "Wysłano opiekuna",
        "ambulance_called": "Wezwano pogotowie (112)",
        "no_contact_help_dispatched": "Brak kontaktu — wysłano pomoc",
        "forced_entry": "Wejście siłowe (policja/straż)",
        "technical_fault": "Usterka techniczna",
        "cancelled_by_resident": "Odwołany przez mieszkańca",
        "auto_cleared": "Ustąpił sam",
        "band_charged": "Opaska naładowana",
        "band_worn_again": "Opaska znów noszona",
        "band_replaced_or_repaired": "Opaska wymieniona lub naprawiona",
        "resident_away": "Mieszkaniec poza domem",
        "installation_test_ok": "Test instalacyjny zakończony",
        "installation_test_failed": "Test instalacyjny nieudany",
        "open": "Otwarty (w toku)",
    },
    Lang.EN: {
        "false_alarm": "False alarm",
        "resident_ok_after_call": "Resident OK after a call",
        "relative_attended": "Relative attended",
        "carer_sent": "Carer sent",
        "ambulance_called": "Emergency services called (112)",
        "no_contact_help_dispatched": "No contact, help dispatched",
        "forced_entry": "Forced entry (police/fire)",
        "technical_fault": "Technical fault",
        "cancelled_by_resident": "Cancelled by the resident",
        "auto_cleared": "Cleared by itself",
        "band_charged": "Band charged",
        "band_worn_again": "Band worn again",
        "band_replaced_or_repaired": "Band replaced or repaired",
        "resident_away": "Resident away",
        "installation_test_ok": "Installation test completed",
        "installation_test_failed": "Installation test failed",
        "open": "Open (in progress)",
    },
}

BAND_STATES = {
    Lang.PL: {
        "ok": "Sprawna",
        "offline": "Brak łączności",
        "not_worn": "Nienoszona",
        "battery_low": "Niski poziom baterii",
        "never_connected": "Nigdy nie połączona",
        "many_rejects": "Wiele odrzuconych wiadomości",
    },
    Lang.EN: {
        "ok": "Healthy",
        "offline": "Offline",
        "not_worn": "Not worn",
        "battery_low": "Battery low",
        "never_connected": "Never connected",
        "many_rejects": "Many rejected messages",
    },
}

CHANNELS = {Lang.PL: {"sms": "SMS", "voice": "Połączenie głosowe"}, Lang.EN: {"sms": "SMS", "voice": "Voice call"}}

NOTIFICATION_STATUSES = {
    Lang.PL: {
        "pending": "Oczekuje",
        "sending": "W wysyłce",
        "sent": "Wysłane",
        "delivered": "Doręczone / odebrane",
        "failed": "Nieudane",
        "no_answer": "Nieodebrane",
        "cancelled": "Anulowane",
    },
    Lang.EN: {
        "pending": "Pending",
        "sending": "Sending",
        "sent": "Sent",
        "delivered": "Delivered / answered",
        "failed": "Failed",
        "no_answer": "No answer",
        "cancelled": "Cancelled",
    },
}

# Every other phrase, by key.
TEXT = {
    Lang.PL: {
        "title": "Raport miesięczny teleopieki",
        "municipality": "Gmina",
        "municipality_code": "Kod gminy",
        "month": "Miesiąc",
        "period_start": "Początek okresu",
        "period_end": "Koniec okresu",
        "generated_at": "Wygenerowano",
        "participants": "Uczestnicy",
        "participants_at_end": "Uczestnicy z aktywną opaską na koniec miesiąca",
        "participants_during": "Uczestnicy z aktywną opaską w ciągu miesiąca",
        "bands": "Opaski",
        "bands_total": "Opaski w użyciu",
        "bands_state": "Opaski wg stanu (stan w chwili generowania)",
        "alarms": "Alarmy",
        "alarms_total": "Alarmy (bez testowych)",
        "alarms_test": "Alarmy testowe (nieliczone)",
        "alarms_kind": "Alarmy wg rodzaju",
        "alarms_outcome": "Alarmy wg rodzaju i wyniku",
        "dispatches": "Wezwania służb (brak kontaktu z mieszkańcem)",
        "answer": "Czas przyjęcia alarmu (SOS i upadki)",
        "answer_alarms": "Alarmy SOS i upadki",
        "answer_claimed": "Przyjęte przez operatora",
        "answer_unanswered": "Nieprzyjęte (odwołane lub otwarte)",
        "within": "Przyjęte do {s} s",
        "target_counted": "liczone",
        "target_met": "w celu",
        "target_missed": "po czasie",
        "target_share": "odsetek %",
        "target_required": "cel %",
        "target_word": "cel",
        "target_achieved": "cel osiągnięty",
        "median_claim_s": "Mediana czasu przyjęcia [s]",
        "p90_claim_s": "90. percentyl czasu przyjęcia [s]",
        "max_claim_s": "Najdłuższy czas przyjęcia [s]",
        "median_resolve_s": "Mediana czasu do zamknięcia [s]",
        "overdue": "Alarmy eskalowane jako przeterminowane",
        "distribution": "Rozkład czasu przyjęcia",
        "bucket_le": "do {s} s",
        "bucket_gt": "powyżej {s} s",
        "technical": "Alarmy techniczne",
        "tech_raised": "zgłoszone",
        "tech_closed": "zamknięte",
        "tech_still_open": "nadal otwarte",
        "tech_auto_cleared": "ustąpiły same",
        "tech_total_hours": "łączny czas trwania [h]",
        "tech_median_hours": "mediana czasu trwania [h]",
        "tech_max_hours": "najdłuższy czas trwania [h]",
        "notifications": "Powiadomienia bliskich",
        "notifications_total": "Powiadomienia razem",
        "total": "razem",
        "day": "Dzień",
        "days": "Alarmy dziennie",
        "life": "SOS i upadki",
        "technical_short": "techniczne",
        "yes": "tak",
        "no": "nie",
        "none": "brak danych",
        "count": "liczba",
        "anonymity": "Raport nie zawiera żadnych danych osobowych mieszkańców.",
        "summary": "Podsumowanie",
        "sources": "Dane źródłowe: zdarzenia systemu opaska, czas polski (Europe/Warsaw). Alarm należy do miesiąca, "
        "w którym odebrano wiadomość z opaski; czas przyjęcia liczony do pierwszego przyjęcia przez operatora; "
        "cele wg standardu TSA (97,5% w 60 s, 99% w 180 s). Stan opasek: w chwili generowania raportu. "
        "Uczestnicy: wg historii przypisań opasek.",
        "page": "Strona",
        "kind": "Rodzaj",
        "outcome": "Wynik",
        "status": "Wynik",
        "channel": "Kanał",
        "state": "Stan",
        "figure": "Wskaźnik",
        "value": "Wartość",
        "target_line": "cel {s} s",
        "no_alarms": "W tym miesiącu nie było alarmów.",
    },
    Lang.EN: {
        "title": "Telecare monthly report",
        "municipality": "Municipality",
        "municipality_code": "Municipality code",
        "month": "Month",
        "period_start": "Period start",
        "period_end": "Period end",
        "generated_at": "Generated",
        "participants": "Participants",
        "participants_at_end": "Participants with an active band at the end of the month",
        "participants_during": "Participants with an active band during the month",
        "bands": "Bands",
        "bands_total": "Bands in use",
        "bands_state": "Bands by state (when the report was made)",
        "alarms": "Alarms",
        "alarms_total": "Alarms (tests excluded)",
        "alarms_test": "Test alarms (not counted)",
        "alarms_kind": "Alarms by kind",
        "alarms_outcome": "Alarms by kind and outcome",
        "dispatches": "Emergency services called (resident not reachable)",
        "answer": "Answer time (SOS and falls)",
        "answer_alarms": "SOS and fall alarms",
        "answer_claimed": "Claimed by an operator",
        "answer_unanswered": "Not claimed (cancelled or open)",
        "within": "Claimed within {s} s",
        "target_counted": "counted",
        "target_met": "met",
        "target_missed": "missed",
        "target_share": "share %",
        "target_required": "target %",
        "target_word": "target",
        "target_achieved": "target achieved",
        "median_claim_s": "Median time to claim [s]",
        "p90_claim_s": "90th percentile time to claim [s]",
        "max_claim_s": "Longest time to claim [s]",
        "median_resolve_s": "Median time to close [s]",
        "overdue": "Alarms escalated as overdue",
        "distribution": "Answer-time distribution",
        "bucket_le": "up to {s} s",
        "bucket_gt": "over {s} s",
        "technical": "Technical alarms",
        "tech_raised": "raised",
        "tech_closed": "closed",
        "tech_still_open": "still open",
        "tech_auto_cleared": "cleared by themselves",
        "tech_total_hours": "total duration [h]",
        "tech_median_hours": "median duration [h]",
        "tech_max_hours": "longest duration [h]",
        "notifications": "Notifications to relatives",
        "notifications_total": "Notifications in total",
        "total": "total",
        "day": "Day",
        "days": "Alarms per day",
        "life": "SOS and falls",
        "technical_short": "technical",
        "yes": "yes",
        "no": "no",
        "none": "no data",
        "count": "count",
        "anonymity": "This report holds no personal data of residents.",
        "summary": "Summary",
        "sources": "Source: opaska's own records, Polish time (Europe/Warsaw). An alarm belongs to the month its band "
        "message was received in; time to claim is to the first claim by an operator; targets per the TSA standard "
        "(97.5% within 60 s, 99% within 180 s). Band states: when the report was made. Participants: from the "
        "bands' assignment history.",
        "page": "Page",
        "kind": "Kind",
        "outcome": "Outcome",
        "status": "Result",
        "channel": "Channel",
        "state": "State",
        "figure": "Figure",
        "value": "Value",
        "target_line": "target {s} s",
        "no_alarms": "There were no alarms this month.",
    },
}


def t(lang: Lang, key: str, **values: object) -> str:
    return TEXT[lang][key].format(**values)


def label(table: dict[Lang, dict[str, str]], lang: Lang, key: str) -> str:
    """A known code's words; an unknown code as it is (a new kind still shows)."""
    return table[lang].get(key, key)
