"""The resident's action plan on an alarm: a checklist whose ticks are the alarm's timeline.

Each step ticked ("done") or skipped, with what came of it, is an audited note event carrying the
step's words as they were then, so the record says what the operator did even after the plan is
edited. The checklist's state is read back from those events: the database is the only truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import Actor, Move, MoveResult, apply_move
from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.alarms.timeline_text import Event, Words, describe
from alarm_center.reports.labels import Lang
from registry.action_plans import PlanSource, plan_for_resident
from registry.model import ActionPlanStep, Contact, PlanStepKind, Resident

PLAN_STEP = "plan_step"
KINDS = frozenset(kind.value for kind in PlanStepKind)
MAX_OUTCOME = 300


class StepStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"


KIND_WORDS = {
    PlanStepKind.CALL_RESIDENT: Words("Zadzwoń do mieszkańca", "Call the resident"),
    PlanStepKind.CALL_CONTACT: Words("Zadzwoń do", "Call"),
    PlanStepKind.CALL_KEY_HOLDER: Words("Zadzwoń do osoby z kluczem", "Call someone with a key"),
    PlanStepKind.KEY_SAFE: Words(
        "Podaj kod sejfu na klucz temu, kto wchodzi", "Give the key-safe code to whoever goes in"
    ),
    PlanStepKind.MEDICAL: Words(
        "Przekaż informacje medyczne (dla ZRM)", "Pass on the medical facts (for the ambulance)"
    ),
    PlanStepKind.EMERGENCY: Words("Wezwij pogotowie: 112", "Call emergency services: 112"),
    PlanStepKind.INSTRUCTION: Words("Polecenie", "Instruction"),
}


@dataclass(frozen=True)
class PlanStepState:
    status: StepStatus
    outcome: str
    at: datetime
    by: int | None
    event_id: int


@dataclass(frozen=True)
class AlarmPlanStep:
    id: int
    position: int
    kind: str
    label: str
    # The step's words in both languages, as the timeline keeps them.
    words: Words
    text: str
    # Whom to call, where the step is a call: a name and a number the operator dials.
    call_name: str | None
    call_phone: str | None
    state: PlanStepState | None


@dataclass(frozen=True)
class AlarmPlan:
    source: PlanSource
    steps: list[AlarmPlanStep]


def _label(step: ActionPlanStep, contact: Contact | None, lang: Lang) -> str:
    words = KIND_WORDS.get(PlanStepKind(step.kind)) if step.kind in KINDS else None
    base = words(lang) if words else step.kind
    if step.kind == PlanStepKind.CALL_CONTACT:
        if contact is None:
            return f"{base}: " + ("(osoba usunięta z listy bliskich)" if lang == Lang.PL else "(contact removed)")
        relation = f" ({contact.relation})" if contact.relation else ""
        return f"{base}: {contact.name}{relation}"
    if step.kind == PlanStepKind.INSTRUCTION:
        return step.text
    return base


def _call_target(
    step: ActionPlanStep, resident: Resident, contacts: dict[int, Contact]
) -> tuple[str | None, str | None]:
    if step.kind == PlanStepKind.CALL_RESIDENT:
        return f"{resident.first_name} {resident.last_name}", resident.phone
    if step.kind == PlanStepKind.CALL_CONTACT and step.contact_id in contacts:
        contact = contacts[step.contact_id]
        return contact.name, contact.phone
    if step.kind == PlanStepKind.CALL_KEY_HOLDER:
        holder = next((c for c in sorted(contacts.values(), key=lambda c: c.priority) if c.has_key), None)
        return (holder.name, holder.phone) if holder else (None, None)
    return None, None


async def _states(session: AsyncSession, alarm_id: int) -> dict[int, PlanStepState]:
    """The latest tick of each step on this alarm (a step re-ticked keeps its last outcome)."""
    events = await session.execute(
        select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "note").order_by(AlarmEvent.id)
    )
    states: dict[int, PlanStepState] = {}
    for event in events.scalars():
        detail: dict[str, Any] = event.detail or {}
        if detail.get("action") != PLAN_STEP or not isinstance(detail.get("step_id"), int):
            continue
        states[detail["step_id"]] = PlanStepState(
            StepStatus(detail["step_status"]), str(detail.get("outcome", "")), event.at, event.actor_id, event.id
        )
    return states


async def alarm_plan(session: AsyncSession, alarm: Alarm, lang: Lang = Lang.PL) -> AlarmPlan:
    """The plan to follow on this alarm, each step with its tick (if any)."""
    if alarm.resident_id is None:
        return AlarmPlan("none", [])
    resident = await session.get(Resident, alarm.resident_id)
    if resident is None:
        return AlarmPlan("none", [])
    plan = await plan_for_resident(session, resident)
    found = await session.execute(select(Contact).where(Contact.resident_id == resident.id))
    contacts = {contact.id: contact for contact in found.scalars()}
    states = await _states(session, alarm.id)
    steps = []
    for step in plan.steps:
        contact = contacts.get(step.contact_id) if step.contact_id is not None else None
        name, phone = _call_target(step, resident, contacts)
        steps.append(
            AlarmPlanStep(
                id=step.id,
                position=step.position,
                kind=step.kind,
                label=_label(step, contact, lang),
                words=Words(_label(step, contact, Lang.PL), _label(step, contact, Lang.EN)),
                text=step.text if step.kind != PlanStepKind.INSTRUCTION else "",
                call_name=name,
                call_phone=phone,
                state=states.get(step.id),
            )
        )
    return AlarmPlan(plan.source, steps)


class StepNotInPlan(LookupError):
    """The step is not in this alarm's resident's plan (edited meanwhile, or another resident's)."""


async def tick_step(
    session: AsyncSession,
    *,
    alarm: Alarm,
    step_id: int,
    status: StepStatus,
    outcome: str,
    staff_id: int,
    at: datetime,
) -> MoveResult:
    """Record a step done or skipped, with what came of it, on the alarm's timeline. Does not commit."""
    plan = await alarm_plan(session, alarm)
    step = next((s for s in plan.steps if s.id == step_id), None)
    if step is None:
        raise StepNotInPlan(f"step {step_id} is not in the plan of alarm {alarm.id}'s resident")
    detail = {
        "action": PLAN_STEP,
        "step_id": step.id,
        "position": step.position,
        "kind": step.kind,
        "label": step.words.pl,
        "label_en": step.words.en,
        "step_status": status.value,
        "outcome": outcome.strip()[:MAX_OUTCOME],
    }
    return await apply_move(
        session,
        at=at,
        alarm_id=alarm.id,
        move=Move.NOTE,
        actor=Actor.staff(staff_id),
        # The note says it in the timeline's own words (Polish, the centre's language).
        note=describe(Event("note", detail), Lang.PL),
        detail=detail,
    )
