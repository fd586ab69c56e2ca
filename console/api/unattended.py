"""What escalated while nobody was at a console: for the panel every logged-in page shows once
someone is back (static/unattended.js)."""

from fastapi import APIRouter

from alarm_center.escalation.unattended import UnattendedReport, unattended_report
from console.auth.current import AlarmHandler
from console.deps import ClockDep, SessionDep

router = APIRouter(tags=["alarms"])


@router.get("/api/escalations/unattended")
async def unattended(user: AlarmHandler, session: SessionDep, clock: ClockDep) -> UnattendedReport:
    """Alarms of the user's municipalities whose escalation found no operator console connected in
    the last 24 h (skipped waits, the on-duty page), newest first: each with what was done from
    then on, with times, and its status now."""
    return await unattended_report(session, now=clock.now(), municipality_ids=user.municipality_ids)
