"""The alarm worker's commit loop: a lone SOS takes the set-based path; a batch the database keeps
refusing is split until the message it refuses is stored alone and bare; an outage is waited out.

The store functions are fakes standing in for the database (the process boundary): what is tested
is the loop's order, splitting and fallback, not SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import OperationalError

from core.mqtt.client import IncomingMessage
from gateway.alarm_commit import BatchItem, store_batch_until_committed
from gateway.judge import AlarmMessage, Rejection, TelemetryMessage, judge
from gateway.queues import Received
from gateway.stored import AlarmStored
from gateway.topics import TopicScheme

TOPICS = TopicScheme("opaska/v1")
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
POISON = "B-POISON"

pytestmark = pytest.mark.asyncio


def _item(serial: str, msg_id: str) -> BatchItem:
    topic = TOPICS.uplink(serial, "sos")
    payload = f'{{"v":1,"msg_id":"{msg_id}","ts":"{NOW.isoformat()}","battery":70}}'.encode()
    verdict = judge(TOPICS, topic, payload, NOW)
    assert isinstance(verdict, AlarmMessage)
    return verdict, Received(IncomingMessage(topic, payload, 1, False, False, 1, 1), NOW, 0.0)


def _stored(message: AlarmMessage | TelemetryMessage) -> AlarmStored:
    return AlarmStored(message.band, message.message_id, 1, True, False, message.kind)


def _outage() -> OperationalError:
    return OperationalError("INSERT", {}, ConnectionRefusedError("database away"))


class FakeDatabase:
    """Refuses any transaction holding the poison message as the band sent it; can be away."""

    def __init__(self, away_for: int = 0) -> None:
        self.away_for = away_for
        self.batches: list[list[str]] = []
        self.singles: list[str] = []

    def _refuse(self, messages: list[AlarmMessage | TelemetryMessage]) -> None:
        if self.away_for > 0:
            self.away_for -= 1
            raise _outage()
        if any(m.band == POISON and m.message_id == "poison" for m in messages):
            raise _outage()

    async def store_batch(self, batch: list[BatchItem]) -> list[AlarmStored | Rejection]:
        self.batches.append([message.band for message, _ in batch])
        self._refuse([message for message, _ in batch])
        return [_stored(message) for message, _ in batch]

    async def store(self, message: AlarmMessage | TelemetryMessage, _item: Received) -> AlarmStored | Rejection:
        self.singles.append(message.band)
        self._refuse([message])
        return _stored(message)


async def test_a_lone_sos_is_stored_set_based() -> None:
    database = FakeDatabase()
    outcomes = await store_batch_until_committed(database.store_batch, database.store, [_item("B-1", "m1")])
    assert database.batches == [["B-1"]]
    assert database.singles == []
    assert [o.band for o in outcomes if isinstance(o, AlarmStored)] == ["B-1"]


async def test_an_outage_is_waited_out_and_nothing_is_lost() -> None:
    database = FakeDatabase(away_for=5)
    batch = [_item(f"B-{i}", f"m{i}") for i in range(3)]
    outcomes = await store_batch_until_committed(database.store_batch, database.store, batch)
    assert [o.band for o in outcomes if isinstance(o, AlarmStored)] == ["B-0", "B-1", "B-2"]


@pytest.mark.parametrize("position", [0, 2, 3])
async def test_a_message_the_database_refuses_holds_up_only_itself(position: int) -> None:
    database = FakeDatabase()
    batch = [_item(f"B-{i}", f"m{i}") for i in range(4)]
    batch[position] = _item(POISON, "poison")
    outcomes = await store_batch_until_committed(database.store_batch, database.store, batch)
    # Every alarm is stored, in order; the refused one alone and bare (kind, band, a derived id).
    assert [o.band for o in outcomes if isinstance(o, AlarmStored)] == [message.band for message, _ in batch]
    poison = outcomes[position]
    assert isinstance(poison, AlarmStored)
    assert poison.message_id != "poison"  # stored bare, under an id derived from the bytes
    assert [o.message_id for i, o in enumerate(outcomes) if i != position and isinstance(o, AlarmStored)] == [
        message.message_id for i, (message, _) in enumerate(batch) if i != position
    ]
    # The others went in batches without it, never one at a time.
    assert set(database.singles) == {POISON}
