"""The alarm canary's last result for the console's header (alarm_center/canary/): every member of
staff sees whether the platform's own alarm got through, and how fast.

No `from __future__ import annotations`: FastAPI must resolve the Annotated dependencies.
"""

from fastapi import APIRouter

from alarm_center.canary.status import CanaryStatus, canary_status
from console.auth.current import AnyStaff
from console.deps import ClockDep, SessionDep

router = APIRouter(tags=["platform"])


@router.get("/api/platform/canary")
async def get_canary(_user: AnyStaff, session: SessionDep, clock: ClockDep) -> CanaryStatus:
    """ok / lost / stale / never, the last round's time, the last good canary's end-to-end time."""
    async with session.begin():
        return await canary_status(session, now=clock.now())
