"""Action plans: the ordered steps an operator follows on a resident's alarm.

A resident's own plan, else their municipality's default plan, else none. A plan is replaced as a
whole (the editor sends every step), so the steps' order is the plan's order and nothing half-saved
is ever followed. Refusals are `RegistryError`s naming the step's field, in Polish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry.errors import NotFound, RegistryError
from registry.model import ActionPlanStep, Contact, Municipality, PlanStepKind, Resident

MAX_STEPS = 20
MAX_TEXT = 500
PlanSource = Literal["resident", "municipality", "none"]

# Steps that make sense without a particular resident: a municipality's default plan.
DEFAULT_PLAN_KINDS = frozenset(PlanStepKind) - {PlanStepKind.CALL_CONTACT}


@dataclass(frozen=True)
class StepInput:
    kind: str
    contact_id: int | None = None
    text: str = ""


@dataclass(frozen=True)
class Plan:
    source: PlanSource
    steps: list[ActionPlanStep]


def _checked(steps: list[StepInput], *, contacts: dict[int, Contact] | None) -> list[StepInput]:
    """The steps as they will be stored; `contacts` None for a municipality's default plan."""
    if len(steps) > MAX_STEPS:
        raise RegistryError(field="steps", message=f"najwyżej {MAX_STEPS} kroków")
    allowed = frozenset(PlanStepKind) if contacts is not None else DEFAULT_PLAN_KINDS
    checked = []
    for index, step in enumerate(steps):
        where = f"steps.{index}"
        if step.kind not in allowed:
            if step.kind == PlanStepKind.CALL_CONTACT:
                message = "plan gminy nie zna bliskich mieszkańca: użyj „zadzwoń do osoby z kluczem”"
            else:
                message = f"nieznany rodzaj kroku; dozwolone: {', '.join(sorted(allowed))}"
            raise RegistryError(field=f"{where}.kind", message=message)
        text = step.text.strip()
        if len(text) > MAX_TEXT:
            raise RegistryError(field=f"{where}.text", message=f"najwyżej {MAX_TEXT} znaków")
        if step.kind == PlanStepKind.INSTRUCTION and not text:
            raise RegistryError(field=f"{where}.text", message="polecenie nie może być puste")
        contact_id = None
        if step.kind == PlanStepKind.CALL_CONTACT:
            if step.contact_id is None:
                raise RegistryError(field=f"{where}.contact_id", message="wybierz osobę z listy bliskich")
            if contacts is None or step.contact_id not in contacts:
                raise RegistryError(field=f"{where}.contact_id", message="to nie jest osoba bliska tego mieszkańca")
            contact_id = step.contact_id
        checked.append(StepInput(step.kind, contact_id, text))
    return checked


async def _steps(
    session: AsyncSession, *, resident_id: int | None = None, municipality_id: int | None = None
) -> list[ActionPlanStep]:
    owner = (
        ActionPlanStep.resident_id == resident_id
        if resident_id is not None
        else ActionPlanStep.municipality_id == municipality_id
    )
    query = select(ActionPlanStep).where(owner).order_by(ActionPlanStep.position, ActionPlanStep.id)
    return list((await session.execute(query)).scalars())


async def plan_for_resident(session: AsyncSession, resident: Resident) -> Plan:
    """The plan an operator follows on this resident's alarm: their own, else the municipality's."""
    own = await _steps(session, resident_id=resident.id)
    if own:
        return Plan("resident", own)
    default = await _steps(session, municipality_id=resident.municipality_id)
    return Plan("municipality", default) if default else Plan("none", [])


async def resident_plan(session: AsyncSession, resident_id: int) -> list[ActionPlanStep]:
    return await _steps(session, resident_id=resident_id)


async def municipality_plan(session: AsyncSession, municipality_id: int) -> list[ActionPlanStep]:
    return await _steps(session, municipality_id=municipality_id)


async def _replace(
    session: AsyncSession,
    clock: Clock,
    steps: list[StepInput],
    *,
    resident_id: int | None = None,
    municipality_id: int | None = None,
) -> list[ActionPlanStep]:
    owner = (
        ActionPlanStep.resident_id == resident_id
        if resident_id is not None
        else ActionPlanStep.municipality_id == municipality_id
    )
    await session.execute(delete(ActionPlanStep).where(owner))
    now = clock.now()
    rows = [
        ActionPlanStep(
            resident_id=resident_id,
            municipality_id=municipality_id,
            position=position,
            kind=step.kind,
            contact_id=step.contact_id,
            text=step.text,
            updated_at=now,
        )
        for position, step in enumerate(steps, start=1)
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def set_resident_plan(
    session: AsyncSession, clock: Clock, *, resident_id: int, steps: list[StepInput]
) -> list[ActionPlanStep]:
    """Replace the resident's plan; no steps: the municipality's default applies again."""
    if await session.get(Resident, resident_id) is None:
        raise NotFound(field="resident_id", message=f"nie ma mieszkańca {resident_id}")
    found = await session.execute(select(Contact).where(Contact.resident_id == resident_id))
    contacts = {contact.id: contact for contact in found.scalars()}
    return await _replace(session, clock, _checked(steps, contacts=contacts), resident_id=resident_id)


async def set_municipality_plan(
    session: AsyncSession, clock: Clock, *, municipality_id: int, steps: list[StepInput]
) -> list[ActionPlanStep]:
    """Replace the municipality's default plan (for its residents without a plan of their own)."""
    if await session.get(Municipality, municipality_id) is None:
        raise NotFound(field="municipality_id", message=f"nie ma gminy {municipality_id}")
    return await _replace(session, clock, _checked(steps, contacts=None), municipality_id=municipality_id)
