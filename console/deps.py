"""Dependencies every console route shares: the database session, the clock, the settings handed in."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.notify.status_link import StatusLinks
from console.context import ConsoleContext
from core.clock import Clock
from core.settings import BandSettings, ReportSettings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    context: ConsoleContext = request.app.state.context
    async with context.session_factory() as session:
        yield session


def get_clock(request: Request) -> Clock:
    """The console's clock (the app's; tests may also override this dependency with a FakeClock)."""
    clock: Clock = request.app.state.clock
    return clock


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def context_of(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.context
    return context


def get_band_settings(request: Request) -> BandSettings:
    """[bands] (test mode length, health thresholds, the offline window), as the shell handed them in."""
    return context_of(request).bands


BandSettingsDep = Annotated[BandSettings, Depends(get_band_settings)]


def get_report_settings(request: Request) -> ReportSettings:
    """[reports]: the centre's name and the programme."""
    return context_of(request).reports


ReportSettingsDep = Annotated[ReportSettings, Depends(get_report_settings)]


def get_status_links(request: Request) -> StatusLinks | None:
    """The relatives' status links the shell handed in; None: links are off."""
    return context_of(request).status_links


StatusLinksDep = Annotated[StatusLinks | None, Depends(get_status_links)]
