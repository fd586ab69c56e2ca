"""Where a lost canary stopped, and how the supervisor is told."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where a lost canary stopped: the first part of the path that did not do its part."""

    BROKER = "broker"  # the canary band could not connect (or log in) to the broker
    GATEWAY = "gateway"  # no alarm stored: the gateway (or its broker link, or the database) is down
    ACK = "ack"  # stored, but the band never got its alarm_received
    ENGINE = "engine"  # the alarm stayed open: the engine is not closing it
    FEED = "feed"  # closed, but this console's live feed did not deliver it
    DATABASE = "database"  # the probe could not even read the database


STAGE_WORDS = {
    Stage.BROKER: "opaska kontrolna nie może połączyć się z brokerem MQTT",
    Stage.GATEWAY: "alarm nie został zapisany: bramka (albo jej połączenie z brokerem lub bazą) nie działa",
    Stage.ACK: "alarm zapisany, ale potwierdzenie nie wróciło do opaski",
    Stage.ENGINE: "alarm zapisany, ale silnik (opaska engine) go nie zamknął",
    Stage.FEED: "alarm zamknięty, ale nie dotarł na żywo do konsoli",
    Stage.DATABASE: "baza danych nie odpowiada",
}
