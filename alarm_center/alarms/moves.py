"""The alarm lifecycle as data: every move an alarm can make, in one table, and the pure rules
that judge a move against it (no database here: `lifecycle.apply_move` makes the moves).

Life alarms (SOS, fall, a call to the centre's number) and technical alarms (offline, battery, not
worn) share the statuses but not the moves: only a technical alarm is ever cleared by the system on
its own, and only a life alarm can be cancelled by the resident. Moves that change nothing (escalate, note, a resident's
cancel request that a person must still judge) are in the table too, as a status to itself: they
are refused on a closed alarm like any other move, and they are audited like any other move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alarm_center.alarms.model import PRIORITY_BY_KIND, AlarmKind, AlarmPriority, AlarmStatus


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
    FORCED_ENTRY = "forced_entry"  # police or fire brigade opened the door
    TECHNICAL_FAULT = "technical_fault"  # both classes: the band raised it by fault
    # Set by the resident's cancel; also an operator's choice after verifying a cancel by a call.
    CANCELLED_BY_RESIDENT = "cancelled_by_resident"
    # Technical alarms.
    AUTO_CLEARED = "auto_cleared"  # only by the system, when the cause is gone
    BAND_CHARGED = "band_charged"
    BAND_WORN_AGAIN = "band_worn_again"
    BAND_REPLACED_OR_REPAIRED = "band_replaced_or_repaired"
    RESIDENT_AWAY = "resident_away"  # hospital, holiday: the band is expected to be silent
    # Installation tests (`Alarm.is_test`), by the technician at the visit or by an operator.
    INSTALLATION_TEST_OK = "installation_test_ok"
    INSTALLATION_TEST_FAILED = "installation_test_failed"


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
            Outcome.FORCED_ENTRY,
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
# Outcomes of an installation test's alarm only: a real alarm is never closed as a test (it
# would vanish from nothing, as reports already leave test alarms out, but its record would lie).
TEST_OUTCOMES = frozenset({Outcome.INSTALLATION_TEST_OK, Outcome.INSTALLATION_TEST_FAILED})
# A life alarm closed without a note leaves nobody able to tell later what happened; a cancel
# by the resident speaks for itself, and so does a test (its result, latency and note are on the
# band's record).
NOTE_NOT_NEEDED = frozenset({Outcome.CANCELLED_BY_RESIDENT, *TEST_OUTCOMES})


def resolve_outcomes(cls: AlarmClass, *, is_test: bool = False) -> frozenset[Outcome]:
    """The outcomes an alarm may be closed with: its class's, and for a test alarm the test ones too."""
    return RESOLVE_OUTCOMES[cls] | TEST_OUTCOMES if is_test else RESOLVE_OUTCOMES[cls]


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


# Technical in lifecycle (the system clears it when its cause is gone) though more urgent in the queue.
TECHNICAL_ABOVE_THEIR_PRIORITY = frozenset({AlarmKind.CANARY_LOST})


def alarm_class(kind: str) -> AlarmClass:
    """Technical for the technical kinds; anything else, even a kind this code does not know, is a
    life alarm: the stricter lifecycle (never auto-cleared, closed only with a note)."""
    try:
        known = AlarmKind(kind)
    except ValueError:
        return LIFE
    technical = PRIORITY_BY_KIND[known] == AlarmPriority.TECHNICAL or known in TECHNICAL_ABOVE_THEIR_PRIORITY
    return TECH if technical else LIFE


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
    # None: an alarm raised by a call from an unknown number (no band).
    band_id: int | None
    move: Move
    from_status: AlarmStatus
    to_status: AlarmStatus
    at: datetime
    event_id: int
    outcome: Outcome | None


def judge_outcome(
    alarm_id: int,
    move: Move,
    cls: AlarmClass,
    kind: str,
    outcome: Outcome | str | None,
    note: str,
    *,
    is_test: bool = False,
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
    allowed = resolve_outcomes(cls, is_test=is_test)
    choices = ", ".join(sorted(allowed))
    if outcome is None or outcome == "":
        raise invalid(f"resolving needs an outcome code (outcome), one of: {choices}", "outcome")
    try:
        chosen = Outcome(outcome)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in allowed:
        what = f"a test {kind}" if is_test else f"a {kind}"
        raise invalid(f"{str(outcome)!r} is not an outcome for {what} alarm; one of: {choices}", "outcome")
    if cls == LIFE and not note and chosen not in NOTE_NOT_NEEDED:
        raise invalid(f"resolving a {kind} alarm needs a note (note) saying what was done", "note")
    return chosen


def not_allowed(
    alarm_id: int, move: Move, cls: AlarmClass, kind: str, status: AlarmStatus, claimed_by: int | None
) -> MoveRefused:
    """Why the table refuses `move` from `status`, in an operator's words."""
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
