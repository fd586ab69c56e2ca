"""The escalation auditor: an escalation row overdue by more than a minute means escalation is stuck.

Timers are rows (architecture invariant 3), so a dead or wedged escalation worker shows as rows
whose `next_due_at` has long passed. The auditor runs beside the workers it audits, in another
loop (and in the console, so a whole engine process gone is noticed too), and when it finds such
rows it says so loudly: an error in the log, the `opaska_escalation_overdue_rows` gauge and a
counter of alerts for Prometheus, a failed `escalation` check on /readyz, and its `service_state`
row ("auditor/escalation"), which other processes and the console can read: `alive_at` the last
audit, `connected_since` the due time of the oldest overdue row (NULL while none is overdue), as
the console's row uses it for "since when".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.escalation.model import Escalation
from alarm_center.escalation.repository import DUE_STATES
from core.clock import Clock
from core.db.dialect import insert_for
from core.db.service_state import ServiceState

log = logging.getLogger(__name__)

OVERDUE_AFTER = timedelta(minutes=1)
EVERY_S = 15.0

OVERDUE_ROWS = Gauge(
    "opaska_escalation_overdue_rows", "Escalation rows due more than a minute ago and not yet fired (should be 0)."
)
OVERDUE_ALERTS = Counter(
    "opaska_escalation_overdue_alerts_total", "Audits that found escalation stuck (rows overdue by over a minute)."
)


AUDITOR_STATE = "auditor/escalation"


async def record_audit(session: AsyncSession, *, stuck_since: datetime | None, now: datetime) -> None:
    statement = insert_for(session, ServiceState).values(name=AUDITOR_STATE, connected_since=stuck_since, alive_at=now)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["name"], set_={"connected_since": stuck_since, "alive_at": now})
    )


async def overdue(session: AsyncSession, *, now: datetime) -> tuple[int, datetime | None]:
    """How many rows are overdue by more than OVERDUE_AFTER, and the oldest due time among them."""
    row = (
        await session.execute(
            select(func.count(), func.min(Escalation.next_due_at)).where(
                Escalation.state.in_(DUE_STATES), Escalation.next_due_at < now - OVERDUE_AFTER
            )
        )
    ).one()
    return int(row[0]), row[1]


class EscalationAuditor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, *, every_s: float = EVERY_S) -> None:
        self._sessions = sessions
        self._clock = clock
        self._every_s = every_s
        # The last verdict, for /readyz; "ok" until the first audit says otherwise.
        self.state = "ok"

    async def audit(self) -> str:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            count, oldest = await overdue(session, now=now)
            await record_audit(session, stuck_since=oldest if count else None, now=now)
        OVERDUE_ROWS.set(count)
        if count == 0:
            if self.state != "ok":
                log.warning("escalation caught up: no row overdue")
            self.state = "ok"
            return self.state
        late = (now - oldest).total_seconds() if oldest is not None else 0.0
        state = f"stuck: {count} row(s) overdue, the oldest by {late:.0f} s"
        OVERDUE_ALERTS.inc()
        log.error("escalation %s (is the engine running?)", state)
        self.state = state
        return state

    async def check(self) -> str:
        """For /readyz: the last verdict (a fresh audit would cost a query per probe)."""
        return self.state

    async def run(self) -> None:
        while True:
            try:
                await self.audit()
            except Exception as exc:  # the database is away: /readyz says so on its own line
                log.debug("escalation audit failed: %s", exc)
            await asyncio.sleep(self._every_s)
