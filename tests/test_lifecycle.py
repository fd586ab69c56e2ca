"""The alarm lifecycle: every move in the table works and is audited, every other one is refused.

The cases are generated from `lifecycle.TRANSITIONS` itself, so a move added to the table (or to
`Move`) is tested without anyone remembering to.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms import repository
from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.lifecycle import (
    MOVES,
    RESOLVE_OUTCOMES,
    TRANSITIONS,
    Actor,
    ActorType,
    AlarmClass,
    Move,
    MoveRefused,
    Outcome,
    Refusal,
    Seen,
    apply_move,
    apply_move_many,
    kinds_of,
)
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmEvent, AlarmKind, AlarmStatus
from alarm_center.alarms.resident_cancel import CancelOutcome, cancel_fall_by_resident
from alarm_center.alarms.technical import TechnicalClear, clear_technical
from core.clock import FakeClock
from core.settings import load_settings
from registry.model import Band, BandStatus
from simulator.lab.staff import create_staff
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

KIND_OF_CLASS = {AlarmClass.LIFE: AlarmKind.FALL, AlarmClass.TECHNICAL: AlarmKind.BATTERY_LOW}
# A valid choice per class, so that a refusal in the table tests is the table's, not the input's.
GOOD_OUTCOME = {AlarmClass.LIFE: Outcome.RESIDENT_OK, AlarmClass.TECHNICAL: Outcome.BAND_CHARGED}
CLOSED = (AlarmStatus.RESOLVED, AlarmStatus.CANCELLED)


@dataclass
class Desk:
    """A resident, an operator, and alarms made to order in any status."""

    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    seeded: SeededBand
    staff_id: int

    async def band(self) -> int:
        """A fresh band of the resident, so any number of alarms of one kind can be open at once."""
        async with self.sessions() as session, session.begin():
            band = Band(
                serial=f"B-{uuid.uuid4().hex[:8]}",
                model="test",
                firmware="",
                status=BandStatus.ACTIVE,
                resident_id=self.seeded.resident_id,
                secret_hash="-",  # never connects
                created_at=self.clock.now(),
            )
            session.add(band)
            await session.flush()
            return band.id

    async def alarm(self, kind: AlarmKind, status: AlarmStatus = AlarmStatus.RAISED) -> int:
        band_id = await self.band()
        now = self.clock.now()
        values: dict[str, Any] = {
            "municipality_id": self.seeded.municipality_id,
            "resident_id": self.seeded.resident_id,
            "band_id": band_id,
            "kind": kind.value,
            "priority": int(PRIORITY_BY_KIND[kind]),
            "status": status.value,
            "is_test": False,
            "raised_at": now,
            "repeat_count": 0,
            "note": "",
            "first_message_id": None,
        }
        if status == AlarmStatus.CLAIMED:
            values |= {"claimed_at": now, "claimed_by": self.staff_id}
        if status in CLOSED:
            values |= {"closed_at": now, "outcome": "false_alarm"}
        async with self.sessions() as session, session.begin():
            alarm_id = await repository.insert_alarm_if_none_open(session, values)
            assert alarm_id is not None
            return alarm_id

    def actor(self, move: Move) -> Actor:
        """Someone allowed to make the move."""
        allowed = MOVES[move].actors
        if ActorType.STAFF in allowed:
            return Actor.staff(self.staff_id)
        if ActorType.BAND in allowed:
            return Actor.band(self.seeded.band_id)
        return Actor.system()

    async def move(
        self, alarm_id: int, move: Move, *, cls: AlarmClass | None = None, **kwargs: Any
    ) -> tuple[Any, Alarm, list[AlarmEvent]]:
        """Make the move with good inputs (unless given), in its own transaction."""
        if move == Move.RESOLVE and cls is not None:
            kwargs.setdefault("outcome", GOOD_OUTCOME[cls])
        if move in (Move.RESOLVE, Move.NOTE):
            kwargs.setdefault("note", "Called the resident: all well.")
        kwargs.setdefault("actor", self.actor(move))
        async with self.sessions() as session, session.begin():
            result = await apply_move(session, at=self.clock.now(), alarm_id=alarm_id, move=move, **kwargs)
        return result, *await self.state(alarm_id)

    async def state(self, alarm_id: int) -> tuple[Alarm, list[AlarmEvent]]:
        async with self.sessions() as session:
            alarm = (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()
            events = (
                (
                    await session.execute(
                        select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
                    )
                )
                .scalars()
                .all()
            )
            return alarm, list(events)


@pytest_asyncio.fixture
async def desk(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Desk:
    seeded = await seed_resident_with_band(sessions, clock)
    operator = await create_staff(sessions, clock, full_name="Operator", municipality_ids=[seeded.municipality_id])
    return Desk(sessions, clock, seeded, operator.id)


ALLOWED = sorted(TRANSITIONS, key=str)
REFUSED = sorted(
    (
        (cls, status, move)
        for cls in AlarmClass
        for status in AlarmStatus
        for move in Move
        if (cls, status, move) not in TRANSITIONS
    ),
    key=str,
)


async def test_the_table_covers_every_move_and_class() -> None:
    # Every move is possible for some alarm, and every class has a way to close.
    assert {move for (_, _, move) in TRANSITIONS} == set(Move)
    for cls in AlarmClass:
        assert any(to in CLOSED for (c, _, _), to in TRANSITIONS.items() if c == cls)
        assert all(status not in CLOSED for (c, status, _) in TRANSITIONS if c == cls), "closed is final"
    assert (AlarmClass.LIFE, AlarmStatus.RAISED, Move.AUTO_CLEAR) not in TRANSITIONS
    assert (AlarmClass.LIFE, AlarmStatus.CLAIMED, Move.AUTO_CLEAR) not in TRANSITIONS


@pytest.mark.parametrize("cls", list(AlarmClass))
async def test_every_allowed_move_works_and_is_audited(desk: Desk, cls: AlarmClass) -> None:
    for case_cls, status, move in ALLOWED:
        if case_cls != cls:
            continue
        to_status = TRANSITIONS[(cls, status, move)]
        alarm_id = await desk.alarm(KIND_OF_CLASS[cls], status)
        desk.clock.advance(1)
        result, alarm, events = await desk.move(alarm_id, move, cls=cls, detail={"case": "table"})
        case = f"{cls} {status} --{move}--> {to_status}"
        assert (result.from_status, result.to_status) == (status, to_status), case
        assert alarm.status == to_status, case
        [event] = events
        spec = MOVES[move]
        actor = desk.actor(move)
        assert (event.type, event.actor_type, event.actor_id) == (spec.event_type, actor.type, actor.id), case
        assert (event.from_status, event.to_status, event.at) == (status, to_status, desk.clock.now()), case
        assert event.detail["case"] == "table", case
        if to_status in CLOSED:
            assert alarm.closed_at == desk.clock.now(), case
            assert alarm.outcome == (spec.outcome or GOOD_OUTCOME[cls]), case
            assert event.detail["outcome"] == alarm.outcome, case
        if move == Move.CLAIM:
            assert (alarm.claimed_by, alarm.claimed_at) == (desk.staff_id, desk.clock.now()), case
        if move == Move.RELEASE:
            assert (alarm.claimed_by, alarm.claimed_at) == (None, None), case
            assert event.detail["claimed_by"] == desk.staff_id, case
        if move == Move.RESOLVE:
            assert alarm.note == event.detail["note"] == "Called the resident: all well.", case


@pytest.mark.parametrize("cls", list(AlarmClass))
async def test_every_move_not_in_the_table_is_refused(desk: Desk, cls: AlarmClass) -> None:
    for case_cls, status, move in REFUSED:
        if case_cls != cls:
            continue
        alarm_id = await desk.alarm(KIND_OF_CLASS[cls], status)
        case = f"{cls} {status} --{move}-->"
        with pytest.raises(MoveRefused) as refused:
            await desk.move(alarm_id, move, cls=cls)
        assert refused.value.reason == Refusal.NOT_ALLOWED, case
        assert (refused.value.alarm_id, refused.value.move, refused.value.status) == (alarm_id, move, status), case
        message = str(refused.value)
        assert message.startswith(f"alarm {alarm_id} is "), case
        assert MOVES[move].verb in message, case
        alarm, events = await desk.state(alarm_id)
        assert (alarm.status, events) == (status, []), case


async def test_refusals_read_like_an_operator_would_say_them(desk: Desk) -> None:
    resolved = await desk.alarm(AlarmKind.SOS, AlarmStatus.RESOLVED)
    with pytest.raises(MoveRefused, match=f"^alarm {resolved} is resolved; it cannot be claimed$"):
        await desk.move(resolved, Move.CLAIM)
    claimed = await desk.alarm(AlarmKind.SOS, AlarmStatus.CLAIMED)
    with pytest.raises(MoveRefused, match=f"^alarm {claimed} is already claimed by staff {desk.staff_id}; "):
        await desk.move(claimed, Move.CLAIM)
    sos = await desk.alarm(AlarmKind.SOS)
    with pytest.raises(MoveRefused, match=f"^alarm {sos} is a life alarm \\(sos\\); it is never auto-cleared$"):
        await desk.move(sos, Move.AUTO_CLEAR)
    with pytest.raises(MoveRefused, match="does not exist") as missing:
        await desk.move(10**9, Move.CLAIM)
    assert missing.value.reason == Refusal.NOT_FOUND


async def test_resolving_needs_a_valid_outcome_and_for_life_alarms_a_note(desk: Desk) -> None:
    sos = await desk.alarm(AlarmKind.SOS, AlarmStatus.CLAIMED)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"note": "ok"}, "outcome", "needs an outcome code"),
        ({"outcome": "", "note": "ok"}, "outcome", "needs an outcome code"),
        ({"outcome": "banana", "note": "ok"}, "outcome", "'banana' is not an outcome for a sos alarm"),
        ({"outcome": Outcome.BAND_CHARGED, "note": "ok"}, "outcome", "not an outcome for a sos alarm"),
        ({"outcome": Outcome.AUTO_CLEARED, "note": "ok"}, "outcome", "not an outcome for a sos alarm"),
        ({"outcome": Outcome.AMBULANCE_CALLED, "note": ""}, "note", "needs a note"),
        ({"outcome": Outcome.AMBULANCE_CALLED, "note": "   "}, "note", "needs a note"),
    ]
    for kwargs, field, words in cases:
        with pytest.raises(MoveRefused, match=words) as refused:
            await desk.move(sos, Move.RESOLVE, **kwargs)
        assert (refused.value.reason, refused.value.field) == (Refusal.INVALID, field), kwargs
    alarm, events = await desk.state(sos)
    assert (alarm.status, events) == (AlarmStatus.CLAIMED, [])

    _, alarm, _ = await desk.move(sos, Move.RESOLVE, outcome="ambulance_called", note="112 called, crew on site.")
    assert (alarm.status, alarm.outcome, alarm.note) == ("resolved", "ambulance_called", "112 called, crew on site.")

    # Technical alarms: their own outcomes, no note needed; a life outcome is refused.
    battery = await desk.alarm(AlarmKind.BATTERY_LOW)
    with pytest.raises(MoveRefused, match="not an outcome for a battery_low alarm") as refused:
        await desk.move(battery, Move.RESOLVE, outcome=Outcome.AMBULANCE_CALLED)
    assert refused.value.field == "outcome"
    _, alarm, _ = await desk.move(battery, Move.RESOLVE, outcome=Outcome.BAND_CHARGED, note="")
    assert (alarm.status, alarm.outcome) == ("resolved", "band_charged")


async def test_every_listed_outcome_resolves_its_class(desk: Desk) -> None:
    for cls, outcomes in RESOLVE_OUTCOMES.items():
        for outcome in sorted(outcomes):
            alarm_id = await desk.alarm(KIND_OF_CLASS[cls], AlarmStatus.CLAIMED)
            _, alarm, _ = await desk.move(alarm_id, Move.RESOLVE, outcome=outcome, note="done")
            assert alarm.outcome == outcome


async def test_inputs_a_move_does_not_take_are_refused(desk: Desk) -> None:
    sos = await desk.alarm(AlarmKind.SOS)
    with pytest.raises(MoveRefused, match="only when resolving") as refused:
        await desk.move(sos, Move.CLAIM, outcome=Outcome.FALSE_ALARM)
    assert refused.value.field == "outcome"
    with pytest.raises(MoveRefused, match="a note cannot be empty") as refused:
        await desk.move(sos, Move.NOTE, note=" ")
    assert refused.value.field == "note"
    with pytest.raises(MoveRefused, match="cannot be claimed by band, only by staff") as refused:
        await desk.move(sos, Move.CLAIM, actor=Actor.band(desk.seeded.band_id))
    assert refused.value.field == "actor"
    with pytest.raises(MoveRefused, match="cannot be cancelled by the resident by staff"):
        await desk.move(sos, Move.CANCEL_BY_RESIDENT, actor=Actor.staff(desk.staff_id))
    alarm, events = await desk.state(sos)
    assert (alarm.status, events) == ("raised", [])


async def test_two_operators_claiming_at_once_exactly_one_wins(desk: Desk) -> None:
    other_staff = desk.staff_id
    second = await create_staff(
        desk.sessions, desk.clock, full_name="Second", municipality_ids=[desk.seeded.municipality_id]
    )
    second_staff = second.id
    for _ in range(3):
        alarm_id = await desk.alarm(AlarmKind.SOS)

        async def claim(staff_id: int, alarm_id: int = alarm_id) -> int:
            async with desk.sessions() as session, session.begin():
                await claim_alarm(session, desk.clock, alarm_id=alarm_id, staff_id=staff_id)
            return staff_id

        results = await asyncio.gather(claim(other_staff), claim(second_staff), return_exceptions=True)
        winners = [r for r in results if isinstance(r, int)]
        losers = [r for r in results if isinstance(r, MoveRefused)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert str(losers[0]).startswith(f"alarm {alarm_id} is already claimed by staff {winners[0]}")
        alarm, events = await desk.state(alarm_id)
        assert (alarm.status, alarm.claimed_by) == ("claimed", winners[0])
        assert [(e.type, e.actor_id) for e in events] == [("claimed", winners[0])]


async def test_an_escalation_racing_a_claim_still_escalates_the_claimed_alarm(desk: Desk) -> None:
    alarm_id = await desk.alarm(AlarmKind.FALL)
    async with desk.sessions() as operator, operator.begin():
        await apply_move(
            operator, at=desk.clock.now(), alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(desk.staff_id)
        )

        async def escalate() -> Any:
            # On PostgreSQL it reads "raised", then waits on the operator's row lock and finds the
            # compare-and-set lost; on SQLite it waits at BEGIN. Either way: escalated as claimed.
            async with desk.sessions() as engine, engine.begin():
                return await apply_move(
                    engine, at=desk.clock.now(), alarm_id=alarm_id, move=Move.ESCALATE, actor=Actor.system()
                )

        task = asyncio.create_task(escalate())
        await asyncio.sleep(0.2)
    result = await asyncio.wait_for(task, 30)
    assert (result.from_status, result.to_status) == ("claimed", "claimed")
    _, events = await desk.state(alarm_id)
    assert [(e.type, e.from_status, e.to_status) for e in events] == [
        ("claimed", "raised", "claimed"),
        ("escalated", "claimed", "claimed"),
    ]


async def test_technical_alarms_auto_clear_and_life_alarms_never_do(desk: Desk) -> None:
    battery = await desk.alarm(AlarmKind.BATTERY_LOW)
    not_worn = await desk.alarm(AlarmKind.NOT_WORN, AlarmStatus.CLAIMED)
    sos = await desk.alarm(AlarmKind.SOS)
    fall = await desk.alarm(AlarmKind.FALL, AlarmStatus.CLAIMED)
    async with desk.sessions() as session, session.begin():
        cleared = await clear_technical(
            session,
            at=desk.clock.now(),
            alarms=[
                TechnicalClear(battery, "raised", "battery_ok", {"battery_pct": 80}),
                TechnicalClear(not_worn, "claimed", "worn_again"),
                TechnicalClear(sos, "raised", "nonsense"),
                TechnicalClear(fall, "claimed", "nonsense"),
            ],
        )
    assert sorted(cleared) == sorted([battery, not_worn])
    for alarm_id in (battery, not_worn):
        alarm, [event] = await desk.state(alarm_id)
        assert (alarm.status, alarm.outcome, alarm.closed_at) == ("resolved", "auto_cleared", desk.clock.now())
        assert (event.type, event.actor_type, event.to_status) == ("cleared", "system", "resolved")
    assert (await desk.state(battery))[1][0].detail == {
        "reason": "battery_ok",
        "battery_pct": 80,
        "outcome": "auto_cleared",
    }
    for alarm_id, status in ((sos, "raised"), (fall, "claimed")):
        alarm, events = await desk.state(alarm_id)
        assert (alarm.status, events) == (status, [])


async def test_a_bulk_move_skips_alarms_moved_since_they_were_seen(desk: Desk) -> None:
    seen_raised = await desk.alarm(AlarmKind.BAND_OFFLINE)
    await desk.move(seen_raised, Move.CLAIM)  # by an operator, after the supervisor looked
    async with desk.sessions() as session, session.begin():
        moved = await apply_move_many(
            session,
            at=desk.clock.now(),
            move=Move.AUTO_CLEAR,
            actor=Actor.system(),
            alarms=[Seen(seen_raised, "raised")],
        )
    assert moved == []
    assert (await desk.state(seen_raised))[0].status == "claimed"
    async with desk.sessions() as session:
        with pytest.raises(ValueError, match="needs a person's input"):
            await apply_move_many(session, at=desk.clock.now(), move=Move.RESOLVE, actor=Actor.system(), alarms=[])
    assert kinds_of(AlarmClass.LIFE) == ["fall", "left_zone", "no_checkin", "sos", "voice_call", "welfare_call"]


async def _fall_and_cancel(desk: Desk, *, after_s: float, needs_verification: bool) -> tuple[int, Any]:
    fall = await desk.alarm(AlarmKind.FALL)
    async with desk.sessions() as session:
        band_id = (await session.execute(select(Alarm.band_id).where(Alarm.id == fall))).scalar_one()
    desk.clock.advance(after_s)
    async with desk.sessions() as session, session.begin():
        result = await cancel_fall_by_resident(
            session,
            band=Band(id=band_id),
            band_message_id=0,
            received_at=desk.clock.now(),
            window=timedelta(seconds=30),
            needs_verification=needs_verification,
        )
    assert result.alarm_id == fall
    return fall, result


async def test_a_fall_cancelled_in_time_is_cancelled_by_default(desk: Desk) -> None:
    fall, result = await _fall_and_cancel(desk, after_s=10, needs_verification=False)
    assert result.outcome == CancelOutcome.CANCELLED
    alarm, [event] = await desk.state(fall)
    assert (alarm.status, alarm.outcome) == ("cancelled", "cancelled_by_resident")
    assert (event.type, event.actor_type, event.detail["seconds_after_fall"]) == ("cancelled", "band", 10.0)


async def test_a_late_cancel_is_only_recorded(desk: Desk) -> None:
    fall, result = await _fall_and_cancel(desk, after_s=31, needs_verification=False)
    assert result.outcome == CancelOutcome.RECORDED
    alarm, [event] = await desk.state(fall)
    assert (alarm.status, event.type, event.detail["why_not_cancelled"]) == ("raised", "cancel_requested", "too late")


async def test_with_verification_a_cancel_in_time_waits_for_an_operators_call(desk: Desk) -> None:
    fall, result = await _fall_and_cancel(desk, after_s=10, needs_verification=True)
    assert result.outcome == CancelOutcome.AWAITS_VERIFICATION
    alarm, [event] = await desk.state(fall)
    assert (alarm.status, alarm.closed_at) == ("raised", None)
    assert (event.type, event.to_status, event.detail["why_not_cancelled"]) == (
        "cancel_requested",
        "raised",
        "operator verifies",
    )
    # The operator calls, hears the resident is fine, and closes it as the resident's cancel (no note needed).
    await desk.move(fall, Move.CLAIM)
    _, alarm, events = await desk.move(fall, Move.RESOLVE, outcome=Outcome.CANCELLED_BY_RESIDENT, note="")
    assert (alarm.status, alarm.outcome) == ("resolved", "cancelled_by_resident")
    assert [e.type for e in events] == ["cancel_requested", "claimed", "resolved"]


async def test_the_verification_setting_defaults_off_and_is_set_by_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPASKA_ALARMS_CANCEL_NEEDS_VERIFICATION", raising=False)
    assert load_settings().alarms.cancel_needs_verification is False
    monkeypatch.setenv("OPASKA_ALARMS_CANCEL_NEEDS_VERIFICATION", "true")
    assert load_settings().alarms.cancel_needs_verification is True


async def test_release_puts_the_alarm_back_in_the_queue_for_another_operator(desk: Desk) -> None:
    sos = await desk.alarm(AlarmKind.SOS)
    await desk.move(sos, Move.CLAIM)
    await desk.move(sos, Move.RELEASE, actor=Actor.system(), detail={"why": "no progress for 300 s"})
    _, alarm, events = await desk.move(sos, Move.CLAIM)
    assert alarm.status == "claimed"
    assert [(e.type, e.actor_type) for e in events] == [
        ("claimed", "staff"),
        ("released", "system"),
        ("claimed", "staff"),
    ]
    assert events[1].detail == {"why": "no progress for 300 s", "claimed_by": desk.staff_id}
