"""Action plans in the registry: a resident's own plan and a municipality's default plan.

Everyone on the staff reads the plans of their municipalities; technicians (who set residents up
at installation) and supervisors replace a resident's plan, supervisors a municipality's default.
A plan is sent whole, in order; an empty one removes a resident's own plan (the default applies).
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from console.api.scope import not_yours
from console.auth.current import AnyStaff, StaffPrincipal, Supervisor, require_role
from console.bounds import DbId
from console.deps import ClockDep, SessionDep
from console.routes.registry_common import PolishRoute, not_found, registry_errors, visible_resident
from registry import action_plans
from registry.action_plans import MAX_STEPS, MAX_TEXT, StepInput
from registry.model import ActionPlanStep, Municipality, PlanStepKind, StaffRole

router = APIRouter(tags=["registry"], route_class=PolishRoute)
PlanEditor = Annotated[StaffPrincipal, Depends(require_role(StaffRole.TECHNICIAN, StaffRole.SUPERVISOR))]


class PlanStepView(BaseModel):
    id: int
    position: int
    kind: str
    contact_id: int | None
    text: str


class PlanView(BaseModel):
    # Whose plan applies: the resident's own, the municipality's default, or none at all.
    source: Literal["resident", "municipality", "none"]
    steps: list[PlanStepView]
    updated_at: datetime | None


class PlanStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: PlanStepKind
    contact_id: DbId | None = None
    text: Annotated[str, Field(max_length=MAX_TEXT)] = ""


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: Annotated[list[PlanStepIn], Field(max_length=MAX_STEPS)]


def _view(source: Literal["resident", "municipality", "none"], steps: list[ActionPlanStep]) -> PlanView:
    return PlanView(
        source=source,
        steps=[
            PlanStepView(id=s.id, position=s.position, kind=s.kind, contact_id=s.contact_id, text=s.text) for s in steps
        ],
        updated_at=max((step.updated_at for step in steps), default=None),
    )


def _inputs(body: PlanIn) -> list[StepInput]:
    return [StepInput(step.kind.value, step.contact_id, step.text) for step in body.steps]


async def _resident_plan_view(session: AsyncSession, resident_id: int, municipality_id: int) -> PlanView:
    own = await action_plans.resident_plan(session, resident_id)
    if own:
        return _view("resident", own)
    default = await action_plans.municipality_plan(session, municipality_id)
    return _view("municipality", default) if default else _view("none", [])


@router.get("/api/registry/residents/{resident_id}/plan")
async def get_resident_plan(resident_id: DbId, user: AnyStaff, session: SessionDep) -> PlanView:
    """The plan operators follow on this resident's alarms, and whose it is."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        return await _resident_plan_view(session, resident.id, resident.municipality_id)


@router.put("/api/registry/residents/{resident_id}/plan")
async def set_resident_plan(
    resident_id: DbId, body: PlanIn, user: PlanEditor, session: SessionDep, clock: ClockDep
) -> PlanView:
    """Replace the resident's plan (every step, in order); no steps: the municipality's default applies."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        with registry_errors():
            await action_plans.set_resident_plan(session, clock, resident_id=resident.id, steps=_inputs(body))
        return await _resident_plan_view(session, resident.id, resident.municipality_id)


async def _visible_municipality(session: AsyncSession, user: StaffPrincipal, municipality_id: int) -> Municipality:
    municipality = await session.get(Municipality, municipality_id)
    if municipality is None:
        raise not_found(f"nie ma gminy o id {municipality_id}")
    if not user.sees(municipality_id):
        raise not_yours(f"municipality {municipality_id}")
    return municipality


@router.get("/api/registry/municipalities/{municipality_id}/plan")
async def get_municipality_plan(municipality_id: DbId, user: AnyStaff, session: SessionDep) -> PlanView:
    """The municipality's default plan, for its residents without a plan of their own."""
    async with session.begin():
        await _visible_municipality(session, user, municipality_id)
        steps = await action_plans.municipality_plan(session, municipality_id)
        return _view("municipality" if steps else "none", steps)


@router.put("/api/registry/municipalities/{municipality_id}/plan")
async def set_municipality_plan(
    municipality_id: DbId, body: PlanIn, user: Supervisor, session: SessionDep, clock: ClockDep
) -> PlanView:
    """Replace the municipality's default plan (a named contact is not allowed: it is nobody's in particular)."""
    async with session.begin():
        await _visible_municipality(session, user, municipality_id)
        with registry_errors():
            steps = await action_plans.set_municipality_plan(
                session, clock, municipality_id=municipality_id, steps=_inputs(body)
            )
        return _view("municipality" if steps else "none", steps)
