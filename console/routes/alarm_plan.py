"""The action plan on an alarm: the checklist the operator follows, each tick on the timeline."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from alarm_center.alarms.lifecycle import MoveRefused
from alarm_center.alarms.plan_steps import MAX_OUTCOME, StepNotInPlan, StepStatus, alarm_plan, tick_step
from alarm_center.reports.labels import Lang
from console.api.alarms import ERRORS, ActionResult, refused
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler, AnyStaff
from console.bounds import DbId
from console.deps import ClockDep, SessionDep

router = APIRouter(tags=["alarms"])


class StepStateView(BaseModel):
    status: StepStatus
    outcome: str
    at: datetime
    by: int | None


class AlarmPlanStepView(BaseModel):
    id: int
    position: int
    kind: str
    label: str
    text: str
    call_name: str | None
    call_phone: str | None
    state: StepStateView | None


class AlarmPlanView(BaseModel):
    source: str
    steps: list[AlarmPlanStepView]


@router.get("/api/alarms/{alarm_id}/plan")
async def get_alarm_plan(alarm_id: DbId, user: AnyStaff, session: SessionDep, lang: Lang = Lang.PL) -> AlarmPlanView:
    """The resident's action plan for this alarm (their own, else the municipality's), each step
    with whom to call and its tick so far."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        plan = await alarm_plan(session, alarm, lang)
    # The domain's dataclasses, read by attribute: the view is their public shape.
    return AlarmPlanView.model_validate(plan, from_attributes=True)


class StepTick(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StepStatus
    outcome: Annotated[str, Field(max_length=MAX_OUTCOME)] = ""


@router.post("/api/alarms/{alarm_id}/plan/steps/{step_id}", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def tick_plan_step(
    alarm_id: DbId, step_id: DbId, body: StepTick, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Record a step of the plan done or skipped, with what came of it, on the alarm's timeline
    (409 on a closed alarm; 404 for a step not in this alarm's plan)."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        try:
            moved = await tick_step(
                session,
                alarm=alarm,
                step_id=step_id,
                status=body.status,
                outcome=body.outcome,
                staff_id=user.id,
                at=clock.now(),
            )
        except StepNotInPlan as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return ActionResult(alarm_id=moved.alarm_id, status=moved.to_status, event_id=moved.event_id)
