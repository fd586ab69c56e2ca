"""Installation tests in the console: the technician's open test alarms on the band page, closing
them, and the operators' one number ("testy instalacyjne w toku: N").

A test alarm is the technician's (`alarm_center.alarms.installation_alarms`): it makes no sound, reaches
no supervisor and no relative, and the technician at the visit closes it. Operators see it only
counted here; they (and supervisors) may close it too.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from alarm_center.alarms.installation_alarms import close_test_alarm, open_test_alarms, tests_in_progress
from alarm_center.alarms.lifecycle import MoveRefused
from console.api.alarms import ERRORS, ActionResult, alarm_to_close, refused
from console.auth.current import AnyStaff, BandReader
from console.bounds import DbId
from console.deps import ClockDep, SessionDep
from console.routes.registry_common import BandTestView, PolishRoute, Text, band_test_view, visible_band
from registry.band_directory import staff_names
from registry.installation_test import results_for_alarms

router = APIRouter(tags=["installation tests"], route_class=PolishRoute)


class TestsSummary(BaseModel):
    """Installation tests in progress in the user's municipalities."""

    # Bands in test mode now (a technician is at a visit).
    bands_in_test_mode: int
    # Test alarms not closed yet (they may outlive the test mode until the technician closes them).
    open_test_alarms: int


class OpenTestAlarm(BaseModel):
    alarm_id: int
    kind: str
    status: str
    raised_at: datetime
    # Seconds from raised to now by the server's clock; the page counts on from it.
    waited_s: int
    repeat_count: int
    claimed_by_name: str | None
    # The test's result (pass/fail, latency from the press); None if none was recorded.
    result: BandTestView | None


class CloseTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Without it: what the test's result says (passed: installation_test_ok, else installation_test_failed).
    outcome: Literal["installation_test_ok", "installation_test_failed"] | None = None
    note: Annotated[Text, Field(max_length=2000)] = ""


@router.get("/api/installation-tests/summary")
async def summary(user: AnyStaff, session: SessionDep, clock: ClockDep) -> TestsSummary:
    """How many bands are in test mode and how many test alarms are open, in the user's
    municipalities (the queue's "testy instalacyjne w toku")."""
    async with session.begin():
        found = await tests_in_progress(session, now=clock.now(), sees=user.sees)
    return TestsSummary(bands_in_test_mode=found.bands_in_test_mode, open_test_alarms=found.open_test_alarms)


@router.get("/api/installation-tests/bands/{band_id}/alarms")
async def band_test_alarms(
    band_id: DbId, user: BandReader, session: SessionDep, clock: ClockDep
) -> list[OpenTestAlarm]:
    """The band's open test alarms, oldest first, each with its test result (the band page lists
    them for the technician to close)."""
    now = clock.now()
    async with session.begin():
        band, _ = await visible_band(session, user, band_id)
        alarms = await open_test_alarms(session, band_ids=[band.id])
        results = await results_for_alarms(session, [alarm.id for alarm in alarms])
        claimers = {alarm.claimed_by for alarm in alarms if alarm.claimed_by is not None}
        names = await staff_names(session, claimers) if claimers else {}
    return [
        OpenTestAlarm(
            alarm_id=alarm.id,
            kind=alarm.kind,
            status=alarm.status,
            raised_at=alarm.raised_at,
            waited_s=max(0, int((now - alarm.raised_at).total_seconds())),
            repeat_count=alarm.repeat_count,
            claimed_by_name=names.get(alarm.claimed_by) if alarm.claimed_by is not None else None,
            result=band_test_view(results[alarm.id]) if alarm.id in results else None,
        )
        for alarm in alarms
    ]


@router.post("/api/installation-tests/alarms/{alarm_id}/close", responses=ERRORS)
async def close_test(
    alarm_id: DbId, body: CloseTestRequest, user: AnyStaff, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Close an installation test's alarm in one step: claimed if nobody has it, then resolved with a
    test outcome. Technicians (for their municipalities' bands), operators and supervisors may; a
    technician is refused a real alarm (403), anyone else gets 409 for one (close it as an alarm)."""
    async with session.begin():
        await alarm_to_close(session, user, alarm_id)
        try:
            moved = await close_test_alarm(
                session, clock, alarm_id=alarm_id, staff_id=user.id, outcome=body.outcome, note=body.note
            )
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return ActionResult(
        alarm_id=moved.alarm_id,
        status=moved.to_status,
        event_id=moved.event_id,
        outcome=moved.outcome.value if moved.outcome else None,
    )
