"""The alarm lifecycle: the one function that makes a move, in the caller's transaction.

The table of allowed moves and the rules judging a move are data, in `alarm_center.alarms.moves`;
their names are importable from here too, where most callers import them. `apply_move` makes one
move; `apply_move_many` makes a system move on many alarms at once (the supervision pass clears
hundreds in one statement).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.metrics import CLAIM_SECONDS
from alarm_center.alarms.model import Alarm, AlarmStatus
from alarm_center.alarms.moves import (
    CANCELLED,
    LIFE,
    MOVES,
    NOTE_NOT_NEEDED,
    RESOLVE_OUTCOMES,
    RESOLVED,
    TECH,
    TEST_OUTCOMES,
    TRANSITIONS,
    Actor,
    ActorType,
    AlarmClass,
    Move,
    MoveRefused,
    MoveResult,
    MoveSpec,
    Outcome,
    Refusal,
    alarm_class,
    judge_outcome,
    kinds_of,
    not_allowed,
    resolve_outcomes,
    target,
)
from core.db.after_commit import after_commit

# The table's names, re-exported: callers import them from the lifecycle.
__all__ = [
    "BULK_MOVES",
    "CANCELLED",
    "LIFE",
    "MOVES",
    "NOTE_NOT_NEEDED",
    "RESOLVED",
    "RESOLVE_OUTCOMES",
    "TECH",
    "TEST_OUTCOMES",
    "TRANSITIONS",
    "Actor",
    "ActorType",
    "AlarmClass",
    "Move",
    "MoveRefused",
    "MoveResult",
    "MoveSpec",
    "Outcome",
    "Refusal",
    "Seen",
    "alarm_class",
    "apply_move",
    "apply_move_many",
    "kinds_of",
    "resolve_outcomes",
    "target",
]


# A compare-and-set that failed is retried from a fresh read while the move is still allowed
# (an escalation racing a claim is still an escalation); bounded so a hot row cannot spin.
_ATTEMPTS = 5


async def apply_move(
    session: AsyncSession,
    *,
    at: datetime,
    alarm_id: int,
    move: Move,
    actor: Actor,
    outcome: Outcome | str | None = None,
    note: str = "",
    detail: Mapping[str, Any] | None = None,
) -> MoveResult:
    """Make one move and audit it, in the caller's transaction. Does not commit.

    The alarm's row is changed only if it is still in the status just read, so of two operators
    claiming at once exactly one wins; the other gets MoveRefused ("already claimed by staff 7").
    """
    spec = MOVES[move]
    if actor.type not in spec.actors:
        allowed = " or ".join(sorted(spec.actors))
        raise MoveRefused(
            f"alarm {alarm_id} cannot be {spec.verb} by {actor.type.value}, only by {allowed}",
            alarm_id=alarm_id,
            move=move,
            reason=Refusal.NOT_ALLOWED,
            field="actor",
        )
    if actor.type in (ActorType.STAFF, ActorType.BAND) and actor.id is None:
        raise MoveRefused(
            f"alarm {alarm_id}: a {actor.type.value} move needs the {actor.type.value}'s id",
            alarm_id=alarm_id,
            move=move,
            reason=Refusal.INVALID,
            field="actor",
        )
    note = note.strip()
    for _ in range(_ATTEMPTS):
        row = (
            await session.execute(
                select(Alarm.status, Alarm.kind, Alarm.band_id, Alarm.claimed_by, Alarm.raised_at, Alarm.is_test).where(
                    Alarm.id == alarm_id
                )
            )
        ).first()
        if row is None:
            raise MoveRefused(
                f"alarm {alarm_id} does not exist", alarm_id=alarm_id, move=move, reason=Refusal.NOT_FOUND
            )
        cls = alarm_class(row.kind)
        from_status = AlarmStatus(row.status)
        to_status = target(cls, from_status, move)
        if to_status is None:
            raise not_allowed(alarm_id, move, cls, row.kind, from_status, row.claimed_by)
        chosen = judge_outcome(alarm_id, move, cls, row.kind, outcome, note, is_test=row.is_test)
        values = _row_values(move, to_status, at=at, actor=actor, outcome=chosen, note=note)
        if await repository.move_alarm_if_status(session, alarm_id=alarm_id, from_status=from_status, values=values):
            event = await repository.add_event(
                session,
                alarm_id=alarm_id,
                at=at,
                type=spec.event_type,
                actor_type=actor.type,
                actor_id=actor.id,
                from_status=from_status,
                to_status=to_status,
                detail=_detail(detail, chosen, note, row.claimed_by if move == Move.RELEASE else None),
            )
            # A technician's test press is no answer time: it must not move the operators' figures.
            if move == Move.CLAIM and not row.is_test:
                after_commit(
                    session, partial(CLAIM_SECONDS.labels(row.kind).observe, (at - row.raised_at).total_seconds())
                )
            return MoveResult(alarm_id, row.kind, row.band_id, move, from_status, to_status, at, event.id, chosen)
    raise MoveRefused(
        f"alarm {alarm_id} kept changing while being {spec.verb}; try again",
        alarm_id=alarm_id,
        move=move,
        reason=Refusal.NOT_ALLOWED,
    )


@dataclass(frozen=True)
class Seen:
    """An alarm as a bulk caller saw it: the move applies only if it is still in `status`."""

    alarm_id: int
    status: str
    detail: Mapping[str, Any] = field(default_factory=dict)


# Moves that need nothing from a person, so they can be made on many alarms at once.
BULK_MOVES = frozenset({Move.AUTO_CLEAR, Move.ESCALATE, Move.RELEASE})


async def apply_move_many(
    session: AsyncSession, *, at: datetime, move: Move, actor: Actor, alarms: Sequence[Seen]
) -> list[int]:
    """Make a system move on many alarms, one statement per status and class; the ids moved.

    Does not commit. An alarm no longer in the status seen, or one the table does not allow the
    move for (a life alarm is never auto-cleared), is left alone and not in the result: the
    caller judges it again next time.
    """
    if move not in BULK_MOVES:
        raise ValueError(f"{move} needs a person's input; use apply_move")
    spec = MOVES[move]
    if actor.type not in spec.actors:
        raise ValueError(f"{move} cannot be made by {actor.type}")
    by_status: dict[AlarmStatus, list[Seen]] = defaultdict(list)
    for alarm in alarms:
        by_status[AlarmStatus(alarm.status)].append(alarm)
    moved: list[int] = []
    events: list[dict[str, Any]] = []
    for from_status, group in by_status.items():
        for cls in AlarmClass:
            to_status = target(cls, from_status, move)
            if to_status is None:
                continue
            values = _row_values(move, to_status, at=at, actor=actor, outcome=spec.outcome, note="")
            done = set(
                await repository.move_alarms_if_status(
                    session,
                    alarm_ids=[alarm.alarm_id for alarm in group],
                    from_status=from_status,
                    kinds=kinds_of(cls),
                    values=values,
                )
            )
            for alarm in group:
                if alarm.alarm_id in done:
                    moved.append(alarm.alarm_id)
                    events.append(
                        {
                            "alarm_id": alarm.alarm_id,
                            "at": at,
                            "type": spec.event_type,
                            "actor_type": actor.type.value,
                            "actor_id": actor.id,
                            "from_status": from_status.value,
                            "to_status": to_status.value,
                            "detail": _detail(alarm.detail, spec.outcome, "", None),
                        }
                    )
    await repository.add_events(session, events)
    return moved


def _row_values(
    move: Move, to_status: AlarmStatus, *, at: datetime, actor: Actor, outcome: Outcome | None, note: str
) -> dict[str, Any]:
    """The alarm's columns a move sets, its status among them."""
    values: dict[str, Any] = {"status": to_status}
    if move == Move.CLAIM:
        values |= {"claimed_at": at, "claimed_by": actor.id}
    elif move == Move.RELEASE:
        # The row shows who has the alarm now; who had it is in the event.
        values |= {"claimed_at": None, "claimed_by": None}
    if to_status in (RESOLVED, CANCELLED):
        values |= {"closed_at": at, "outcome": outcome}
        if note:
            values["note"] = note
    return values


def _detail(
    detail: Mapping[str, Any] | None, outcome: Outcome | None, note: str, released_from: int | None
) -> dict[str, Any]:
    result = dict(detail or {})
    if outcome is not None:
        result["outcome"] = outcome.value
    if note:
        result["note"] = note
    if released_from is not None:
        result["claimed_by"] = released_from
    return result
