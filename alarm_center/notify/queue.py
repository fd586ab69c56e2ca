"""Queueing a notification: the one writer of the outbox's rows. An escalation step, an operator's
SMS or call by hand, a fallback call, an answer to a relative and the all-clear all come here; the
sender delivers them later (retries, fallback, reconciliation). No commits: the caller's
transaction owns them, so a row is queued together with the event that says why, or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.notify import repository
from alarm_center.notify.model import Channel, Notification, NotificationStatus
from alarm_center.notify.status_link import StatusLinks
from alarm_center.notify.templates import alarm_context, alert_text, contact_language, render

# "Once": a help text to one number at most this often, so two machines cannot chat forever.
HELP_ONCE_PER = timedelta(hours=12)


async def queue_notification(
    session: AsyncSession,
    *,
    alarm_id: int | None,
    contact_id: int | None,
    channel: str,
    to_phone: str,
    template: str,
    body: str,
    at: datetime,
) -> int:
    """A pending notification, due at once; its id."""
    row = Notification(
        status=NotificationStatus.PENDING.value,
        attempts=0,
        alarm_id=alarm_id,
        contact_id=contact_id,
        channel=channel,
        to_phone=to_phone,
        template=template,
        body=body,
        next_attempt_at=None,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    await session.flush()
    return row.id


async def queue_alert(
    session: AsyncSession,
    *,
    alarm_id: int,
    channel: str,
    to_phone: str,
    links: StatusLinks | None,
    at: datetime,
    contact_id: int | None = None,
    template: str | None = None,
) -> int:
    """An alert about the alarm to one number, in the contact's language (a responder's: Polish) and
    with only what a relative needs; recorded under `template`, else the alert's own template."""
    name, body = await alert_text(session, alarm_id=alarm_id, channel=channel, contact_id=contact_id, links=links)
    return await queue_notification(
        session,
        alarm_id=alarm_id,
        contact_id=contact_id,
        channel=channel,
        to_phone=to_phone,
        template=template or name,
        body=body,
        at=at,
    )


async def queue_reply(
    session: AsyncSession,
    *,
    to_phone: str,
    template: str,
    language: str | None,
    at: datetime,
    alarm_id: int | None = None,
    contact_id: int | None = None,
    once: bool = False,
    **context: Any,
) -> int | None:
    """An SMS answer to a relative. With `once`, not if the same kind of answer went to that number
    lately (a help text is sent once, not to every reply)."""
    if once and await repository.exists_since(
        session, to_phone=to_phone, templates=(template,), since=at - HELP_ONCE_PER
    ):
        return None
    return await queue_notification(
        session,
        alarm_id=alarm_id,
        contact_id=contact_id,
        channel=Channel.SMS.value,
        to_phone=to_phone,
        template=template,
        body=render(template, language, **context),
        at=at,
    )


async def queue_all_clear(session: AsyncSession, *, alarm_id: int, at: datetime, doing: str = "") -> list[int]:
    """An all-clear SMS to every number already told about the alarm (an alert sent or delivered, a
    call answered), once per number: for when the alarm is closed. Its ids."""
    context = await alarm_context(session, alarm_id=alarm_id)
    if context is None:
        return []
    if doing:
        context["doing"] = doing
    told = await repository.told_about(session, alarm_id=alarm_id)
    # A relative who answered was told, whether or not the call's "completed" has come in yet.
    told += await repository.answered_contacts(session, alarm_id=alarm_id)
    done = {phone for phone, _ in await repository.told_about(session, alarm_id=alarm_id, templates=("all_clear",))}
    queued: list[int] = []
    for to_phone, contact_id in told:
        if to_phone in done:
            continue
        done.add(to_phone)
        queued.append(
            await queue_notification(
                session,
                alarm_id=alarm_id,
                contact_id=contact_id,
                channel=Channel.SMS.value,
                to_phone=to_phone,
                template="all_clear",
                body=render("all_clear", await contact_language(session, contact_id), **context),
                at=at,
            )
        )
    return queued
