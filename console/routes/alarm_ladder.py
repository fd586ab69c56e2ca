"""The no-response ladder on an alarm (alarm_center.alarms.ladder): where it stands, with its
deadline, and each rung the operator records."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from alarm_center.alarms.ladder import LadderRefused, NoContactReason, Rung, Service, Stage, ladder_state, record_rung
from alarm_center.alarms.lifecycle import MoveRefused
from alarm_center.alarms.timeline_text import Event, describe
from alarm_center.reports.labels import Lang
from console.api.alarms import ERRORS, ActionResult, refused
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler, AnyStaff
from console.bounds import DbId
from console.deps import ClockDep, SessionDep

router = APIRouter(tags=["alarms"])


class RungView(BaseModel):
    rung: Rung
    at: datetime
    by: int | None
    detail: dict[str, Any]
    # What the timeline says of it (without who: the page shows the rung beside its time).
    text: str


class LadderView(BaseModel):
    stage: Stage
    # The policy's time to find someone to go, and until when (while looking).
    find_s: int
    find_due_at: datetime | None
    overdue: bool
    rungs: list[RungView]


@router.get("/api/alarms/{alarm_id}/ladder")
async def get_ladder(
    alarm_id: DbId, user: AnyStaff, session: SessionDep, clock: ClockDep, lang: Lang = Lang.PL
) -> LadderView:
    """Where the no-response ladder stands: stage, the deadline to find someone to go, each rung."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        state = await ladder_state(session, alarm, clock.now())
    return LadderView(
        stage=state.stage,
        find_s=state.find_s,
        find_due_at=state.find_due_at,
        overdue=state.overdue,
        rungs=[
            RungView(
                rung=r.rung,
                at=r.at,
                by=r.by,
                detail={k: v for k, v in r.detail.items() if k not in ("action", "rung")},
                text=describe(Event("note", r.detail), lang),
            )
            for r in state.rungs
        ],
    )


class RungIn(BaseModel):
    """One rung; which fields it needs depends on the rung (a missing one is a 422 naming it)."""

    model_config = ConfigDict(extra="forbid")

    rung: Rung
    # started: why the resident cannot be reached.
    reason: NoContactReason | None = None
    # going, arrived: who.
    who: Annotated[str, Field(max_length=200)] = ""
    # going: in how many minutes they expect to be there.
    eta_min: Annotated[int, Field(ge=1, le=240)] | None = None
    # dispatched: which service, and the dispatcher's number for the call, if given.
    service: Service | None = None
    reference: Annotated[str, Field(max_length=64)] = ""
    remark: Annotated[str, Field(max_length=500)] = ""


NEEDS = {Rung.STARTED: "reason", Rung.GOING: "who", Rung.DISPATCHED: "service", Rung.ARRIVED: "who"}


def _missing(body: RungIn) -> HTTPException | None:
    needed = NEEDS.get(body.rung)
    value = getattr(body, needed) if needed else None
    if needed is None or (value.strip() if isinstance(value, str) else value) not in (None, ""):
        return None
    detail = [{"loc": ["body", needed], "msg": f"required for the rung {body.rung.value}", "type": "missing"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


@router.post("/api/alarms/{alarm_id}/ladder", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def record_ladder_rung(
    alarm_id: DbId, body: RungIn, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Record a rung: started (the resident cannot be reached), going (who, expected minutes),
    nobody (no one with a key can go), dispatched (emergency service and reference), arrived.
    409 when the rung does not fit where the ladder stands, or the alarm is closed."""
    missing = _missing(body)
    if missing is not None:
        raise missing
    detail = body.model_dump(exclude={"rung"}, mode="json")
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        try:
            moved = await record_rung(
                session, alarm=alarm, rung=Rung(body.rung), staff_id=user.id, at=clock.now(), detail=detail
            )
        except LadderRefused as exc:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail=[{"loc": ["body", exc.field], "msg": exc.message, "type": "ladder"}]
            ) from None
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return ActionResult(alarm_id=moved.alarm_id, status=moved.to_status, event_id=moved.event_id)
