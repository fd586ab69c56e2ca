"""Municipality scoping: staff see and act only on what belongs to their municipalities.

An alarm of another municipality is refused with 403 (not hidden as 404): the console shows ids
in links, and an operator who follows a colleague's link should learn why it does not open.
"""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.model import Alarm
from console.auth.current import StaffPrincipal


def not_yours(what: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=f"{what} belongs to a municipality you are not assigned to")


async def visible_alarm(session: AsyncSession, user: StaffPrincipal, alarm_id: int) -> Alarm:
    """The alarm, if it exists (404) and the user may see it (403)."""
    alarm = await repository.get_alarm(session, alarm_id)
    if alarm is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"alarm {alarm_id} does not exist")
    if not user.sees_alarm(alarm.municipality_id, alarm.kind):
        raise not_yours(f"alarm {alarm_id}")
    return alarm
