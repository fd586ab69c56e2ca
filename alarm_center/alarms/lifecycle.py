"""The alarm lifecycle: every move an alarm can make, in one table, and the one function that makes it.

Life alarms (SOS, fall) and technical alarms (offline, battery, not worn) share the statuses but
not the moves: only a technical alarm is ever cleared by the system on its own, and only a life
alarm can be cancelled by the resident. Moves that change nothing (escalate, note, a resident's
cancel request that a person must still judge) are in the table too, as a status to itself: they
are refused on a closed alarm like any other move, and they are audited like any other move.

`apply_move` makes one move in the caller's transaction; `apply_move_many` makes a system move on
many alarms at once (the supervision pass clears hundreds in one statement).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.metrics import CLAIM_SECONDS
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmKind, AlarmPriority, AlarmStatus
from core.db.after_commit import after_commit


class AlarmClass(StrEnum):
    LIFE = "life"
    TECHNICAL = "technical"


class Move(StrEnum):
    CLAIM = "claim"
    RELEASE = "release"  # back to the queue: the operator gave it up, or made no progress
    RESOLVE = "resolve"
    CANCEL_BY_RESIDENT = "cancel_by_resident"
    # The resident pressed "I am OK" but the alarm stays open: too late, already claimed, or an
    # operator is to verify by a call.
    REQUEST_CANCEL = "request_cancel"
    ESCALATE = "escalate"
    AUTO_CLEAR = "auto_clear"
    NOTE = "note"


class ActorType(StrEnum):
    BAND = "band"
    STAFF = "staff"
    CONTACT = "contact"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: int | None = None

    @classmethod
    def staff(cls, staff_id: int) -> Actor:
        return cls(ActorType.STAFF, staff_id)

    @classmethod
    def band(cls, band_id: int) -> Actor:
        return cls(ActorType.BAND, band_id)

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorType.SYSTEM)

    def __str__(self) -> str:
        return self.type.value if self.id is None else f"{self.type.value} {self.id}"


class Outcome(StrEnum):
    # Life alarms, chosen by the operator who resolves one.
    FALSE_ALARM = "false_alarm"
    RESIDENT_OK = "resident_ok_after_call"
    RELATIVE_ATTENDED = "relative_attended"
    CARER_SENT = "carer_sent"
    AMBULANCE_CALLED = "ambulance_called"  # 112
    NO_CONTACT_HELP_DISPATCHED = "no_contact_help_dispatched"
    TECHNICAL_FAULT = "technical_fault"  # both classes: the band raised it by fault
    # Set by the resident's cancel; also an operator's choice after verifying a cancel by a call.
    CANCELLED_BY_RESIDENT = "cancelled_by_resident"
    # Technical alarms.
    AUTO_CLEARED = "auto_cleared"  # only by the system, when the cause is gone
    BAND_CHARGED = "band_charged"
    BAND_WORN_AGAIN = "band_worn_again"
    BAND_REPLACED_OR_REPAIRED = "band_replaced_or_repaired"
    RESIDENT_AWAY = "resident_away"  # hospital, holiday: the band is expected to be silent


R, C = AlarmStatus.RAISED, AlarmStatus.CLAIMED
RESOLVED, CANCELLED = AlarmStatus.RESOLVED, AlarmStatus.CANCELLED
LIFE, TECH = AlarmClass.LIFE, AlarmClass.TECHNICAL

# THE table: (class, from status, move) -> to status. Anything not here is refused.
TRANSITIONS: Mapping[tuple[AlarmClass, AlarmStatus, Move], AlarmStatus] = {
    (LIFE, R, Move.CLAIM): C,
    (LIFE, C, Move.RELEASE): R,
    # A life alarm is resolved only by the person who has it: claim first, so the claim time
    # (the answer-time SLA) is always measured.
    (LIFE, C, Move.RESOLVE): RESOLVED,
    (LIFE, R, Move.CANCEL_BY_RESIDENT): CANCELLED,
    (LIFE, R, Move.REQUEST_CANCEL): R,
    (LIFE, C, Move.REQUEST_CANCEL): C,
    (LIFE, R, Move.ESCALATE): R,
    (LIFE, C, Move.ESCALATE): C,
    (LIFE, R, Move.NOTE): R,
    (LIFE, C, Move.NOTE): C,
    (TECH, R, Move.CLAIM): C,
    (TECH, C, Move.RELEASE): R,
    (TECH, R, Move.RESOLVE): RESOLVED,  # lower priority: a technician may close it untaken
    (TECH, C, Move.RESOLVE): RESOLVED,
    (TECH, R, Move.AUTO_CLEAR): RESOLVED,
    (TECH, C, Move.AUTO_CLEAR): RESOLVED,
    (TECH, R, Move.ESCALATE): R,
    (TECH, C, Move.ESCALATE): C,
    (TECH, R, Move.NOTE): R,
    (TECH, C, Move.NOTE): C,
}

# Outcomes an operator may choose when resolving, per class.
RESOLVE_OUTCOMES: Mapping[AlarmClass, frozenset[Outcome]] = {
    LIFE: frozenset(
        {
            Outcome.FALSE_ALARM,
            Outcome.RESIDENT_OK,
            Outcome.RELATIVE_ATTENDED,
            Outcome.CARER_SENT,
            Outcome.AMBULANCE_CALLED,
            Outcome.NO_CONTACT_HELP_DISPATCHED,
            Outcome.TECHNICAL_FAULT,
            Outcome.CANCELLED_BY_RESIDENT,
        }
    ),
    TECH: frozenset(
        {
            Outcome.BAND_CHARGED,
            Outcome.BAND_WORN_AGAIN,
            Outcome.BAND_REPLACED_OR_REPAIRED,
            Outcome.RESIDENT_AWAY,
            Outcome.TECHNICAL_FAULT,
        }
    ),
}
# A life alarm closed without a note leaves nobody able to tell later what happened; a cancel
# by the resident speaks for itself.
NOTE_NOT_NEEDED = frozenset({Outcome.CANCELLED_BY_RESIDENT})


@dataclass(frozen=True)
class MoveSpec:
    event_type: str  # the AlarmEvent.type written
    verb: str  # for messages: "it cannot be <verb>"
    actors: frozenset[ActorType]
    # The outcome the move itself sets (operators choose theirs only when resolving).
    outcome: Outcome | None = None


MOVES: Mapping[Move, MoveSpec] = {
    Move.CLAIM: MoveSpec("claimed", "claimed", frozenset({ActorType.STAFF})),
    Move.RELEASE: MoveSpec("released", "released", frozenset({ActorType.STAFF, ActorType.SYSTEM})),
    Move.RESOLVE: MoveSpec("resolved", "resolved", frozenset({ActorType.STAFF})),
    Move.CANCEL_BY_RESIDENT: MoveSpec(
        "cancelled", "cancelled by the resident", frozenset({ActorType.BAND}), Outcome.CANCELLED_BY_RESIDENT
    ),
    Move.REQUEST_CANCEL: MoveSpec("cancel_requested", "asked to cancel", frozenset({ActorType.BAND})),
    Move.ESCALATE: MoveSpec("escalated", "escalated", frozenset({ActorType.SYSTEM, ActorType.STAFF})),
    Move.AUTO_CLEAR: MoveSpec("cleared", "auto-cleared", frozenset({ActorType.SYSTEM}), Outcome.AUTO_CLEARED),
    Move.NOTE: MoveSpec("note", "given a note", frozenset({ActorType.STAFF, ActorType.SYSTEM})),
}


def alarm_class(kind: str) -> AlarmClass:
    """Technical for the technical kinds; anything else, even a kind this code does not know, is a
    life alarm: the stricter lifecycle (never auto-cleared, closed only with a note)."""
    try:
        priority = PRIORITY_BY_KIND[AlarmKind(kind)]
    except ValueError:
        return LIFE
    return TECH if priority == AlarmPriority.TECHNICAL else LIFE


def kinds_of(cls: AlarmClass) -> list[str]:
    return sorted(kind.value for kind in AlarmKind if alarm_class(kind) == cls)


def target(cls: AlarmClass, status: str, move: Move) -> AlarmStatus | None:
    """The status `move` leads to from `status`, or None if the table does not allow it."""
    try:
        return TRANSITIONS.get((cls, AlarmStatus(status), move))
    except ValueError:
        return None


class Refusal(StrEnum):
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"  # not in the table from the alarm's status, or lost a race
    INVALID = "invalid"  # a field is missing or wrong: `field` names it


class MoveRefused(Exception):
    """A move the lifecycle does not allow; the message says why, in an operator's words."""

    def __init__(
        self,
        message: str,
        *,
        alarm_id: int,
        move: Move,
        reason: Refusal,
        status: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.alarm_id = alarm_id
        self.move = move
        self.reason = reason
        self.status = status
        self.field = field


@dataclass(frozen=True)
class MoveResult:
    alarm_id: int
    kind: str
    band_id: int
    move: Move
    from_status: AlarmStatus
    to_status: AlarmStatus
    at: datetime
    event_id: int
    outcome: Outcome | None


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
                select(Alarm.status, Alarm.kind, Alarm.band_id, Alarm.claimed_by, Alarm.raised_at).where(
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
            raise _not_allowed(alarm_id, move, cls, row.kind, from_status, row.claimed_by)
        chosen = _outcome_for(alarm_id, move, cls, row.kind, outcome, note)
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
            if move == Move.CLAIM:
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


def _outcome_for(
    alarm_id: int, move: Move, cls: AlarmClass, kind: str, outcome: Outcome | str | None, note: str
) -> Outcome | None:
    """The outcome the move records, after judging the operator's input for it."""
    spec = MOVES[move]

    def invalid(message: str, field: str) -> MoveRefused:
        return MoveRefused(
            f"alarm {alarm_id}: {message}", alarm_id=alarm_id, move=move, reason=Refusal.INVALID, field=field
        )

    if move == Move.NOTE and not note:
        raise invalid("a note cannot be empty", "note")
    if move != Move.RESOLVE:
        if outcome is not None and outcome != spec.outcome:
            raise invalid(f"an outcome is given only when resolving, not when {spec.verb}", "outcome")
        return spec.outcome
    allowed = RESOLVE_OUTCOMES[cls]
    choices = ", ".join(sorted(allowed))
    if outcome is None or outcome == "":
        raise invalid(f"resolving needs an outcome code (outcome), one of: {choices}", "outcome")
    try:
        chosen = Outcome(outcome)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in allowed:
        raise invalid(f"{str(outcome)!r} is not an outcome for a {kind} alarm; one of: {choices}", "outcome")
    if cls == LIFE and not note and chosen not in NOTE_NOT_NEEDED:
        raise invalid(f"resolving a {kind} alarm needs a note (note) saying what was done", "note")
    return chosen


def _not_allowed(
    alarm_id: int, move: Move, cls: AlarmClass, kind: str, status: AlarmStatus, claimed_by: int | None
) -> MoveRefused:
    spec = MOVES[move]
    state = f"claimed by staff {claimed_by}" if status == C and claimed_by is not None else status.value
    allowed_from = sorted(s.value for (c, s, m) in TRANSITIONS if c == cls and m == move)
    leads_to = {to for (c, s, m), to in TRANSITIONS.items() if c == cls and m == move and to != s}
    # "already" when the alarm is where the move would take it: someone got there first.
    if status in leads_to and status != R:
        message = f"alarm {alarm_id} is already {state}; it cannot be {spec.verb}"
    elif not allowed_from:
        message = f"alarm {alarm_id} is a {cls.value} alarm ({kind}); it is never {spec.verb}"
    elif status == R and C.value in allowed_from:
        # The usual slip: closing an alarm nobody took. Say what to do, not only what failed.
        message = f"alarm {alarm_id} is not claimed yet: claim it first, then it can be {spec.verb}"
    else:
        message = f"alarm {alarm_id} is {state}; it cannot be {spec.verb}"
    return MoveRefused(message, alarm_id=alarm_id, move=move, reason=Refusal.NOT_ALLOWED, status=status)


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
