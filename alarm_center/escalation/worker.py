"""The escalation worker: due rows are fired, one transaction each, fenced by the row's version.

A job is what a worker read: (row, version). Firing it locks the row only if it is still at
that version, acts (alarm events through the lifecycle's ESCALATE move, notification rows in
the outbox) and advances the row with `UPDATE … WHERE version = read`, all in one transaction.
So a second worker, a restarted one, or a replay of an old job finds the version moved on and
does nothing, and a crash between acting and advancing leaves nothing half done.

Steps fire only while the alarm is unclaimed. A claimed alarm pauses its escalation (with a
"no progress" timer if the policy has one); a closed alarm ends it and has the all-clear queued to
those already told (the sweep, each round). A relative's "going" puts the row on an arrival timer
(see responses.py); when it runs out the console is alerted. With no operator console connected
the waits after console steps are skipped, each recorded on the timeline with its reason; the first
time, the policy's `unattended` steps page whoever is on duty, who gets `unattended_wait_s` before
the phone steps go on to relatives (see unattended.py for the events' shapes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, apply_move
from alarm_center.alarms.model import AlarmStatus
from alarm_center.escalation import metrics, presence, repository, responses, unattended
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import CONTACTS, ON_DUTY_TARGETS, RESPONDER_PREFIX, PolicyError, load_policies
from alarm_center.escalation.service import close_out
from alarm_center.notify.queue import queue_alert, queue_notification
from alarm_center.notify.status_link import StatusLinks
from alarm_center.notify.templates import unattended_text
from core.clock import Clock
from core.poll import poll_forever
from core.settings import Settings
from registry.duty import on_duty

log = logging.getLogger(__name__)

BATCH = 100
# Rounds in a row while a full batch keeps coming, before the loop sleeps anyway.
MAX_BATCHES_PER_ROUND = 20


@dataclass(frozen=True)
class Job:
    escalation_id: int
    alarm_id: int
    version: int


class Fired(StrEnum):
    STEP = "step"  # a step acted
    PAUSED = "paused"  # the alarm is claimed
    RELEASED = "released"  # claimed with no progress: back to the queue
    RESCHEDULED = "rescheduled"  # a paused row checked, progress made
    ENDED = "ended"  # the alarm is closed, or the policy ran out
    STALE = "stale"  # fenced: the row moved on, or another worker holds it


class _Stale(Exception):
    pass


class EscalationWorker:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        links: StatusLinks | None = None,
        batch: int = BATCH,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        # The relatives' status links the alert SMS carry; None: links are off.
        self._links = links
        self._batch = batch

    async def due_jobs(self) -> list[Job]:
        async with self._sessions() as session, session.begin():
            rows = await repository.due(session, now=self._clock.now(), limit=self._batch)
            return [Job(row.id, row.alarm_id, row.version) for row in rows]

    async def sweep(self) -> int:
        """End the escalations of closed alarms, resume those of released ones, hurry those waiting
        for a console nobody is at; how many changed."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            rows = await repository.open_rows_of_closed_alarms(session, limit=500)
            await close_out(session, alarm_ids=[row.alarm_id for row in rows], at=now)
            resumed = await repository.resume_released(session, now=now)
            waiting = await self._waiting_without_console(session, now)
        hurried = 0
        for job in waiting:
            hurried += await self._hurry(job)
        return len(rows) + resumed + hurried

    async def _waiting_without_console(self, session: AsyncSession, now: datetime) -> list[Job]:
        """With no console connected: rows already waiting after a console step for someone to
        claim (the console went away during the wait)."""
        rows = await repository.waiting(session, now=now, limit=500)
        candidates = [row for row in rows if _waits_for_the_console(row)]
        if not candidates or await presence.console_present(session, now=now):
            return []
        return [Job(row.id, row.alarm_id, row.version) for row in candidates]

    async def _hurry(self, job: Job) -> int:
        """One row waiting for an empty console: its wait cut short (recorded, the duty page sent
        the first time), in its own transaction, fenced like a step; 1 if it moved."""
        try:
            async with self._sessions() as session, session.begin():
                row = await repository.lock_if_current(session, escalation_id=job.escalation_id, version=job.version)
                if row is None or row.next_due_at is None:
                    raise _Stale
                now = self._clock.now()
                if await self._already_cut(session, row):
                    raise _Stale  # waiting out the time the person paged was given: nothing to do
                alarm = await repository.alarm_facts(session, row.alarm_id, lock=True)
                if alarm is None or alarm.status != AlarmStatus.RAISED:
                    # Claimed or closed meanwhile: the row's own firing handles it, now.
                    await self._advance(session, row, next_due_at=now)
                    return 1
                steps: list[dict[str, Any]] = row.policy["steps"]
                wait_s = int(steps[row.step]["after_s"])
                waited = now - (row.next_due_at - timedelta(seconds=wait_s))
                due = await self._without_console(
                    session, row, alarm, now, fired=row.step - 1, waited=waited, due=row.next_due_at
                )
                await self._advance(session, row, next_due_at=due)
                return 1
        except _Stale:
            return 0

    async def run_round(self) -> list[Fired]:
        """Sweep, then fire every due job."""
        await self.sweep()
        results: list[Fired] = []
        for _ in range(MAX_BATCHES_PER_ROUND):
            jobs = await self.due_jobs()
            for job in jobs:
                results.append(await self.fire(job))
            if len(jobs) < self._batch:
                break
        return results

    async def fire(self, job: Job) -> Fired:
        """Act on one job in one transaction; STALE (and nothing done) if the row moved on."""
        after_commit: list[tuple[str, Any]] = []
        try:
            async with self._sessions() as session, session.begin():
                row = await repository.lock_if_current(session, escalation_id=job.escalation_id, version=job.version)
                if row is None:
                    raise _Stale
                result = await self._act(session, row, after_commit)
        except _Stale:
            metrics.STALE_JOBS.inc()
            return Fired.STALE
        # Counted only once committed: a rolled-back step did not happen.
        for name, labels in after_commit:
            if name == "step":
                metrics.STEPS.labels(*labels).inc()
            elif name == "released":
                metrics.RELEASED.inc()
        return result

    async def _act(self, session: AsyncSession, row: Escalation, after_commit: list[tuple[str, Any]]) -> Fired:
        now = self._clock.now()
        policy = row.policy
        alarm = await repository.alarm_facts(session, row.alarm_id, lock=True)
        if alarm is None or alarm.status not in (AlarmStatus.RAISED, AlarmStatus.CLAIMED):
            await self._advance(session, row, state="done", next_due_at=None)
            await close_out(session, alarm_ids=[row.alarm_id], at=now)
            return Fired.ENDED
        if row.state in (repository.ARRIVAL, repository.ARRIVAL_END):
            return await self._arrival_not_confirmed(session, row, alarm, now)
        if alarm.status == AlarmStatus.CLAIMED:
            return await self._claimed(session, row, alarm, now, after_commit)
        if row.state == "paused":  # released meanwhile, before the sweep saw it
            await self._advance(session, row, state="active", next_due_at=now)
            return Fired.RESCHEDULED
        steps: list[dict[str, Any]] = policy["steps"]
        if row.step >= len(steps):
            # next_due_at kept: the alarm's close is still to be handled (see repository.close_pending).
            await self._advance(session, row, state="done", next_due_at=now)
            return Fired.ENDED
        if await self._back_to_the_policy_wait(session, row, now):
            return Fired.RESCHEDULED
        step = steps[row.step]
        more_contacts = await self._fire_step(session, row, alarm, step, now)
        after_commit.append(("step", (alarm.kind, str(row.step + 1), step["channel"])))
        if more_contacts:
            due = now + timedelta(seconds=step["next_contact_after_s"])
            await self._advance(session, row, attempt=row.attempt + 1, next_due_at=due)
            return Fired.STEP
        if row.step + 1 < len(steps):
            due = now + timedelta(seconds=steps[row.step + 1]["after_s"])
            if await self._nobody_at_the_console(session, steps, row.step, now):
                due = await self._without_console(
                    session, row, alarm, now, fired=row.step, waited=timedelta(0), due=due
                )
            await self._advance(session, row, step=row.step + 1, attempt=0, next_due_at=due)
            return Fired.STEP
        repeat = policy["repeat"]
        if row.loop_count < repeat["times"]:
            due = now + timedelta(seconds=repeat["after_s"])
            await self._advance(
                session, row, step=repeat["from_step"] - 1, attempt=0, loop_count=row.loop_count + 1, next_due_at=due
            )
            return Fired.STEP
        await self._advance(session, row, state="done", next_due_at=now)
        return Fired.STEP

    async def _nobody_at_the_console(
        self, session: AsyncSession, steps: list[dict[str, Any]], fired: int, now: datetime
    ) -> bool:
        """After a console step with phone steps still to come: is there nobody to see it?

        The wait after a console step is there for an operator to claim the alarm; with no console
        connected nobody can, so the escalation goes straight on to the phone."""
        if steps[fired]["channel"] != "console":
            return False
        if all(step["channel"] == "console" for step in steps[fired + 1 :]):
            return False
        return not await presence.console_present(session, now=now)

    async def _already_cut(self, session: AsyncSession, row: Escalation) -> bool:
        """Is the row's wait the one a skipped wait already left it (the person paged's time)?"""
        return await self._cut_of(session, row) is not None

    async def _cut_of(self, session: AsyncSession, row: Escalation) -> tuple[datetime, dict[str, Any]] | None:
        """The skipped-wait event that set the row's present due time, if one did."""
        skipped = await repository.system_escalations(session, alarm_id=row.alarm_id, reason=unattended.WAIT_SKIPPED)
        for at, detail in reversed(skipped):
            if (
                detail.get("next_step") == row.step + 1
                and isinstance(detail.get("next_due_at"), str)
                and datetime.fromisoformat(detail["next_due_at"]) == row.next_due_at
            ):
                return at, detail
        return None

    async def _back_to_the_policy_wait(self, session: AsyncSession, row: Escalation, now: datetime) -> bool:
        """Someone is at the console again while a wait was cut short: the next step comes at the
        policy's own time, not early (an operator back at 14 s must not see relatives called at
        61 s). Recorded on the timeline; True if the step was put back."""
        # Only a wait after a console step is ever cut: for any other, no look-up at all.
        if row.next_due_at is None or not _waits_for_the_console(row):
            return False
        cut = await self._cut_of(session, row)
        if cut is None or not await presence.console_present(session, now=now):
            return False
        at, detail = cut
        policy_due = at - timedelta(seconds=int(detail.get("waited_s", 0))) + timedelta(seconds=int(detail["wait_s"]))
        if policy_due <= now:
            return False
        await apply_move(
            session,
            at=now,
            alarm_id=row.alarm_id,
            move=Move.ESCALATE,
            actor=Actor.system(),
            detail={
                "reason": unattended.WAIT_RESTORED,
                "next_step": row.step + 1,
                "next_due_at": policy_due.isoformat(),
                "policy": row.policy.get("name"),
            },
        )
        await self._advance(session, row, next_due_at=policy_due)
        return True

    async def _without_console(
        self,
        session: AsyncSession,
        row: Escalation,
        alarm: Any,
        now: datetime,
        *,
        fired: int,
        waited: timedelta,
        due: datetime,
    ) -> datetime:
        """Nobody at the console to claim the alarm during the wait after step `fired` (0-based),
        which would end at `due`: page whoever is on duty if not done yet, record the skipped wait,
        and say when the next step comes instead: now, or, before a phone step, once the person
        paged has had the policy's `unattended_wait_s` (never later than `due`)."""
        steps: list[dict[str, Any]] = row.policy["steps"]
        paged = await repository.system_escalations(session, alarm_id=row.alarm_id, reason=unattended.UNATTENDED)
        if not paged and row.policy.get("unattended"):
            paged = await self._page_on_duty(session, row, alarm, now)
        next_step = steps[fired + 1]
        kept = timedelta(0)
        reached = [at for at, detail in paged if detail.get("notification_ids")]
        if reached and next_step["channel"] != "console":
            give = timedelta(seconds=int(row.policy.get("unattended_wait_s", 0)))
            kept = max(timedelta(0), min(min(reached) + give, due) - now)
        detail: dict[str, Any] = {
            "reason": unattended.WAIT_SKIPPED,
            "why": unattended.NO_CONSOLE,
            "after_step": fired + 1,
            "after_channel": steps[fired]["channel"],
            "next_step": fired + 2,
            "next_channel": next_step["channel"],
            "wait_s": int(next_step["after_s"]),
            "waited_s": max(0, round(waited.total_seconds())),
            "kept_s": round(kept.total_seconds()),
            # When the next step comes instead; also how a later sweep knows this wait was cut already.
            "next_due_at": (now + kept).isoformat(),
            "loop": row.loop_count,
            "policy": row.policy.get("name"),
        }
        await apply_move(
            session, at=now, alarm_id=row.alarm_id, move=Move.ESCALATE, actor=Actor.system(), detail=detail
        )
        return now + kept

    async def _page_on_duty(
        self, session: AsyncSession, row: Escalation, alarm: Any, now: datetime
    ) -> list[tuple[datetime, dict[str, Any]]]:
        """The policy's `unattended` steps, fired together, once: each texts or calls whoever the
        duty roster has on duty, with the "centrum bez operatora" page; each is one timeline event,
        which also says when nobody was on duty. The events' (at, detail)."""
        events: list[tuple[datetime, dict[str, Any]]] = []
        for number, step in enumerate(row.policy["unattended"], 1):
            channel = step["channel"]
            detail: dict[str, Any] = {
                "reason": unattended.UNATTENDED,
                "why": unattended.NO_CONSOLE,
                "unattended_step": number,
                "channel": channel,
                "targets": step["targets"],
                "policy": row.policy.get("name"),
                "names": {},
            }
            notifications: list[int] = []
            for target in step["targets"]:
                shifts = await on_duty(session, target.removeprefix("on_duty:"), now, alarm.municipality_id)
                if not shifts:
                    detail[target] = unattended.NOBODY_ON_DUTY
                    continue
                detail[target] = shifts[0].id
                detail["names"][target] = shifts[0].name
                notifications.append(
                    await queue_notification(
                        session,
                        alarm_id=row.alarm_id,
                        contact_id=None,
                        channel=channel,
                        to_phone=shifts[0].phone,
                        # An escalation's alert like any other: cancelled by a close or a relative's
                        # "going", followed by the all-clear.
                        template=f"escalation_{channel}",
                        body=await unattended_text(session, alarm_id=row.alarm_id, channel=channel),
                        at=now,
                    )
                )
            detail["notification_ids"] = notifications
            await apply_move(
                session, at=now, alarm_id=row.alarm_id, move=Move.ESCALATE, actor=Actor.system(), detail=detail
            )
            events.append((now, detail))
        return events

    async def _arrival_not_confirmed(self, session: AsyncSession, row: Escalation, alarm: Any, now: datetime) -> Fired:
        """A relative said "going" and nobody has resolved the alarm since: alert the console, and
        go on with the next contact if the policy says so."""
        detail = {
            "reason": responses.ARRIVAL_NOT_CONFIRMED,
            "channel": "console",
            "targets": ["operators", "supervisor"],
            "sound": True,
            "contact_id": await responses.going_contact(session, row.alarm_id),
            "policy": row.policy.get("name"),
        }
        await apply_move(
            session, at=now, alarm_id=row.alarm_id, move=Move.ESCALATE, actor=Actor.system(), detail=detail
        )
        if row.state == repository.ARRIVAL_END or not row.policy.get("arrival_timeout_resumes", False):
            await self._advance(session, row, state="done", next_due_at=now)
            return Fired.ENDED
        if alarm.status == AlarmStatus.CLAIMED:
            # Back to the claimed alarm's own check (no progress); claiming paused it before.
            await self._advance(session, row, state="paused", next_due_at=now)
            return Fired.RESCHEDULED
        # The row still points at the next contact: it is reached now.
        await self._advance(session, row, state="active", next_due_at=now)
        return Fired.RESCHEDULED

    async def _claimed(
        self, session: AsyncSession, row: Escalation, alarm: Any, now: datetime, after_commit: list[tuple[str, Any]]
    ) -> Fired:
        """A person has the alarm: pause, and if the policy says so, check later that they act."""
        no_progress_s = row.policy.get("claimed_no_progress_s")
        if row.state == "active":
            due = alarm.claimed_at + timedelta(seconds=no_progress_s) if no_progress_s else None
            await self._advance(session, row, state="paused", next_due_at=due)
            return Fired.PAUSED
        if not no_progress_s:
            await self._advance(session, row, next_due_at=None)
            return Fired.RESCHEDULED
        last = await repository.last_staff_action(session, alarm_id=row.alarm_id)
        progress = max(t for t in (alarm.claimed_at, last) if t is not None)
        if now - progress < timedelta(seconds=no_progress_s):
            await self._advance(session, row, next_due_at=progress + timedelta(seconds=no_progress_s))
            return Fired.RESCHEDULED
        detail = {"reason": "claimed_no_progress", "idle_s": int((now - progress).total_seconds())}
        await apply_move(session, at=now, alarm_id=row.alarm_id, move=Move.RELEASE, actor=Actor.system(), detail=detail)
        await apply_move(
            session,
            at=now,
            alarm_id=row.alarm_id,
            move=Move.ESCALATE,
            actor=Actor.system(),
            detail={**detail, "channel": "console", "targets": ["supervisor"], "sound": True},
        )
        after_commit.append(("released", ()))
        # Back in the queue: the escalation goes on from the step it had reached.
        await self._advance(session, row, state="active", next_due_at=now)
        return Fired.RELEASED

    async def _fire_step(
        self, session: AsyncSession, row: Escalation, alarm: Any, step: dict[str, Any], now: datetime
    ) -> bool:
        """Act out the step; True if more contacts remain to be reached one by one."""
        detail: dict[str, Any] = {
            "step": row.step + 1,
            "loop": row.loop_count,
            "channel": step["channel"],
            "targets": step["targets"],
            "policy": row.policy.get("name"),
        }
        more_contacts = False
        if step["channel"] == "console":
            detail["sound"] = step["sound"]
            if step["mark_overdue"]:
                detail["overdue"] = True
                # A step fired early (nobody at the console) does not make the alarm late before
                # its time: "overdue" means unclaimed at the policy's own time for this step.
                await repository.mark_overdue(
                    session, alarm_id=row.alarm_id, at=max(now, _nominal_time(row, alarm.raised_at))
                )
        else:
            notifications: list[int] = []
            for target in step["targets"]:
                if target == CONTACTS:
                    contacts = await repository.contacts_in_order(session, alarm.resident_id)
                    if row.attempt >= len(contacts):
                        detail["contacts"] = "none left" if contacts else "none"
                        continue
                    contact = contacts[row.attempt]
                    detail["contact_id"] = contact.id
                    detail["contact_number"] = row.attempt + 1
                    notifications.append(
                        await self._notify(session, row, alarm, step, now, to=contact.phone, contact_id=contact.id)
                    )
                    more_contacts = row.attempt + 1 < len(contacts)
                elif row.attempt != 0:  # a responder or the one on duty once per step, not once per contact
                    continue
                elif target in ON_DUTY_TARGETS:
                    role = target.removeprefix("on_duty:")
                    shifts = await on_duty(session, role, now, alarm.municipality_id)
                    if not shifts:
                        detail[target] = "nobody on duty"
                        continue
                    detail[target] = shifts[0].id
                    notifications.append(await self._notify(session, row, alarm, step, now, to=shifts[0].phone))
                else:
                    responder = row.policy["responders"][target.removeprefix(RESPONDER_PREFIX)]
                    notifications.append(await self._notify(session, row, alarm, step, now, to=responder["phone"]))
            detail["notification_ids"] = notifications
        await apply_move(
            session, at=now, alarm_id=row.alarm_id, move=Move.ESCALATE, actor=Actor.system(), detail=detail
        )
        return more_contacts

    async def _notify(
        self,
        session: AsyncSession,
        row: Escalation,
        alarm: Any,
        step: dict[str, Any],
        now: datetime,
        *,
        to: str,
        contact_id: int | None = None,
    ) -> int:
        return await queue_alert(
            session,
            alarm_id=row.alarm_id,
            channel=step["channel"],
            to_phone=to,
            links=self._links,
            at=now,
            contact_id=contact_id,
            template=f"escalation_{step['channel']}",
        )

    async def _advance(self, session: AsyncSession, row: Escalation, **values: Any) -> None:
        if not await repository.advance(session, escalation_id=row.id, version=row.version, values=values):
            raise _Stale


def _nominal_time(row: Escalation, raised_at: datetime) -> datetime:
    """When the row's current step is due by the policy alone, in the first round (its waits
    added up from the alarm's raise): the time an overdue mark belongs to."""
    steps: list[dict[str, Any]] = row.policy["steps"]
    if row.loop_count:
        return raised_at  # a repeat round: long past every step's own time
    return raised_at + timedelta(seconds=sum(int(step["after_s"]) for step in steps[: row.step + 1]))


def _waits_for_the_console(row: Escalation) -> bool:
    """Is the row's wait the one after a console step, before phone steps (not a repeat's wait)?"""
    steps: list[dict[str, Any]] = row.policy["steps"]
    if row.attempt != 0 or not 0 < row.step < len(steps):
        return False
    if row.loop_count > 0 and row.step == row.policy["repeat"]["from_step"] - 1:
        return False  # waiting to go round again after the phone steps
    return steps[row.step - 1]["channel"] == "console" and any(s["channel"] != "console" for s in steps[row.step :])


async def run_escalation(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    links: StatusLinks | None,
) -> None:
    """Fire due escalation steps every `escalation.poll_s`, until cancelled; alert SMS carry `links`.

    A failed round (the database away) is logged and tried again next time; nothing is lost, as
    every timer is a row.
    """
    try:
        load_policies(settings.escalation.policies_path)
    except PolicyError as exc:
        # Running escalations carry their own policy; new alarms get the built-in fallback.
        log.error("%s", exc)
    worker = EscalationWorker(session_factory, clock, links=links)
    await poll_forever(
        worker.run_round,
        every_s=settings.escalation.poll_s,
        clock=clock,
        round_seconds=metrics.ROUND_SECONDS,
        failures=metrics.ROUND_FAILURES,
        log=log,
        what="escalation round",
    )
