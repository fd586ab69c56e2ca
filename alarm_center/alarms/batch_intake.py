"""Intake for many band presses at once: a few set-based statements per batch, not ORM flushes per alarm.

The same outcome as `intake.raise_or_merge` called for each press in order (a property test holds
the two to it): the first press of a band, kind and test-ness with no open alarm raises one (with
its "raised" event and its escalation row, its policy copied), every later press merges into the
open alarm as a repeat. The partial unique index on open alarms decides, so gateways racing on
the same band cannot both raise. Measured in docs/performance.md (B3): one alarm at a time through
the ORM cost several milliseconds of Python and ten statements each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.intake import IntakeRace, IntakeResult
from alarm_center.alarms.metrics import ALARMS_RAISED
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmEvent, AlarmKind, AlarmStatus
from alarm_center.alarms.repository import AlarmKey
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import PolicyBook, shipped_policies
from core.db.after_commit import after_commit
from core.db.dialect import insert_for
from registry.model import Municipality


@dataclass(frozen=True)
class Press:
    """One stored band message that raises or repeats an alarm."""

    band_id: int
    resident_id: int | None
    municipality_id: int | None
    kind: AlarmKind
    is_test: bool
    band_message_id: int
    received_at: datetime

    @property
    def key(self) -> AlarmKey:
        return (self.band_id, self.kind.value, self.is_test)


async def raise_or_merge_many(
    session: AsyncSession, presses: Sequence[Press], policies: PolicyBook | None = None
) -> list[IntakeResult]:
    """`raise_or_merge` for each press, in order, in the caller's transaction. Does not commit.

    Raises IntakeRace when an open alarm closed between the insert and the look-up: the caller
    retries the unit of work."""
    if not presses:
        return []
    firsts: dict[AlarmKey, Press] = {}
    for press in presses:
        firsts.setdefault(press.key, press)
    created = await _insert_alarms(session, list(firsts.values()))
    open_ids = dict(created)
    merging = [key for key in firsts if key not in created]
    if merging:
        found = await repository.open_alarm_ids(session, merging)
        missing = [key for key in merging if key not in found]
        if missing:
            raise IntakeRace(f"open alarms {missing} closed during intake")
        open_ids.update(found)

    results: list[IntakeResult] = []
    events: list[dict[str, Any]] = []
    repeats: dict[int, tuple[int, datetime]] = {}
    for press in presses:
        alarm_id = open_ids[press.key]
        raises = created.get(press.key) == alarm_id and firsts[press.key] is press
        results.append(IntakeResult(alarm_id=alarm_id, created=raises))
        events.append(_event_row(alarm_id, press, raised=raises))
        if not raises:
            count, _ = repeats.get(alarm_id, (0, press.received_at))
            repeats[alarm_id] = (count + 1, press.received_at)
    await session.execute(insert_for(session, cast(Table, AlarmEvent.__table__)), events)
    if repeats:
        await _count_repeats(session, repeats)
    new = [firsts[key] for key in firsts if key in created]
    await _start_escalations(session, [(created[p.key], p) for p in new], policies or shipped_policies())
    for press in new:
        after_commit(session, ALARMS_RAISED.labels(press.kind.value).inc)
    return results


async def _insert_alarms(session: AsyncSession, firsts: list[Press]) -> dict[AlarmKey, int]:
    """One alarm for each key with none open; the ids of those inserted, by key."""
    return await repository.insert_alarms_if_none_open(
        session,
        [
            {
                "municipality_id": press.municipality_id,
                "resident_id": press.resident_id,
                "band_id": press.band_id,
                "kind": press.kind.value,
                "priority": int(PRIORITY_BY_KIND[press.kind]),
                "status": AlarmStatus.RAISED.value,
                "is_test": press.is_test,
                "raised_at": press.received_at,
                "repeat_count": 0,
                "note": "",
                "first_message_id": press.band_message_id,
            }
            for press in firsts
        ],
    )


def _event_row(alarm_id: int, press: Press, *, raised: bool) -> dict[str, Any]:
    return {
        "alarm_id": alarm_id,
        "at": press.received_at,
        "type": "raised" if raised else "repeat",
        "actor_type": "band",
        "actor_id": press.band_id,
        "from_status": None,
        "to_status": AlarmStatus.RAISED.value if raised else None,
        "detail": {"band_message_id": press.band_message_id},
    }


async def _count_repeats(session: AsyncSession, repeats: dict[int, tuple[int, datetime]]) -> None:
    table = cast(Table, Alarm.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("a_id"))
        .values(repeat_count=table.c.repeat_count + bindparam("a_count"), last_repeat_at=bindparam("a_at"))
    )
    await session.execute(
        statement, [{"a_id": alarm_id, "a_count": count, "a_at": at} for alarm_id, (count, at) in repeats.items()]
    )


async def _start_escalations(session: AsyncSession, new: list[tuple[int, Press]], policies: PolicyBook) -> None:
    """`escalation.start` for each new alarm: its policy snapshotted, its first step due."""
    if not new:
        return
    codes: dict[int, str] = {}
    if policies.municipalities:
        ids = {press.municipality_id for _, press in new if press.municipality_id is not None}
        rows = await session.execute(select(Municipality.id, Municipality.code).where(Municipality.id.in_(ids)))
        codes = {municipality_id: code for municipality_id, code in rows}
    snapshots: dict[tuple[str, str | None, bool], dict[str, Any]] = {}
    rows_out = []
    for alarm_id, press in new:
        code = codes.get(press.municipality_id) if press.municipality_id is not None else None
        key = (press.kind.value, code, press.is_test)
        if key not in snapshots:
            snapshots[key] = policies.snapshot_for(press.kind.value, code, is_test=press.is_test)
        snapshot = snapshots[key]
        steps = snapshot["steps"]
        rows_out.append(
            {
                "alarm_id": alarm_id,
                "policy": snapshot,
                "step": 0,
                "attempt": 0,
                "loop_count": 0,
                "state": "active" if steps else "done",
                "next_due_at": press.received_at + timedelta(seconds=steps[0]["after_s"]) if steps else None,
                "version": 0,
            }
        )
    await session.execute(insert_for(session, cast(Table, Escalation.__table__)), rows_out)
