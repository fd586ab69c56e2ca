"""The supervision loop: every few seconds, one pass of every rule, each batch its own transaction."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.supervision import metrics, repository
from alarm_center.supervision.rules import RULES, Change, Judgement, Rule
from core.clock import Clock
from core.poll import poll_forever
from core.settings import BandSettings, Settings

log = logging.getLogger(__name__)

# The gateway refreshes its row about every 5 s; older than this, it is not running.
GATEWAY_ALIVE_WITHIN = timedelta(seconds=30)
# Candidates per transaction. Short transactions: on SQLite each holds the one write lock, and an
# SOS commit must not wait behind a mass raise (200 rows: ~70 ms on SQLite, measured with 10k bands).
BATCH = 200
# A bound on one rule's batches in one pass, so a rule whose candidates keep failing cannot spin.
MAX_BATCHES_PER_RULE = 100


class Supervisor:
    """Runs the rules over every band. Holds no alarm state: that is in the database."""

    def __init__(
        self,
        bands: BandSettings,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        batch: int = BATCH,
    ) -> None:
        self._bands = bands
        self._sessions = session_factory
        self._clock = clock
        self._batch = batch
        # Only for logging the moment offline judging stops or resumes.
        self._judging_offline: bool | None = None

    async def run_pass(self) -> list[Change]:
        """Judge every band once; returns the alarms raised and cleared."""
        judgement = await self._judgement()
        changes: list[Change] = []
        for rule in RULES:
            changes.extend(await self._run_rule(rule, judgement))
        return changes

    async def _judgement(self) -> Judgement:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            gateway_since = await repository.gateway_connected_since(
                session, now=now, alive_within=GATEWAY_ALIVE_WITHIN
            )
        judging = gateway_since is not None
        if judging != self._judging_offline:
            if judging:
                log.info("band offline is judged: a gateway is connected (since %s)", gateway_since)
            elif self._judging_offline is None:
                # At start-up the gateway may simply not have reported yet.
                log.info("band offline is judged once a gateway reports itself connected to the broker")
            else:
                log.warning("band offline is not judged: no gateway is alive and connected to the broker")
            self._judging_offline = judging
        return Judgement(bands=self._bands, now=now, gateway_since=gateway_since)

    async def _run_rule(self, rule: Rule, judgement: Judgement) -> list[Change]:
        changes: list[Change] = []
        for _ in range(MAX_BATCHES_PER_RULE):
            async with self._sessions() as session, session.begin():
                batch = await rule(session, judgement, self._batch)
            # Logged and counted only once committed: a rolled-back batch raised nothing.
            for change in batch.changes:
                _record(change)
            changes.extend(batch.changes)
            if not (batch.more and batch.changes):
                break
        return changes


def _record(change: Change) -> None:
    metrics.TECHNICAL_ALARMS.labels(change.kind, change.action).inc()
    # Ids only: the log is not the place for whose band it is.
    log.info(
        "technical alarm %d %s: %s, band %d (%s)",
        change.alarm_id,
        change.action,
        change.kind,
        change.band_id,
        change.reason,
    )


async def run_supervision(settings: Settings, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    """Supervise every band every `bands.supervision_every_s`, until cancelled.

    A failed pass (the database away, a lock timeout) is logged and tried again next time: the
    loop itself never dies of it, and nothing is lost, as every decision is re-derived from the
    database on each pass.
    """
    supervisor = Supervisor(settings.bands, session_factory, clock)
    await poll_forever(
        supervisor.run_pass,
        every_s=settings.bands.supervision_every_s,
        clock=clock,
        round_seconds=metrics.PASS_SECONDS,
        failures=metrics.PASS_FAILURES,
        log=log,
        what="supervision pass",
    )
