"""Twilio failing under a real `opaska engine` process: 5xx, timeouts, lost answers and slow answers;
the engine SIGKILLed while a send is failing. Every notification is retried until it goes, or fails
over to a call; none is lost, none is sent twice; every escalation step fires once.

The engine-kill stories themselves (mid-escalation, mid-send with the answer hung before or after
Twilio made the message) are tests/test_engine_restart.py's, which the fault suite runs too (see
conftest.py); this module reuses its centre (one resident, two contacts, a short policy) and adds
the provider's faults to it.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from alarm_center.notify.model import NotificationStatus
from tests.faults.burst import RESULTS
from tests.support.processes import opaska_process
from tests.test_engine_restart import ALL_STEPS, CONTACT_1, CONTACT_2, Centre, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(240)]


def _record(name: str, centre: Centre, rows: list[tuple[str, str, str]], **extra: object) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    creates = [
        r for r in centre.fake.requests if r.method == "POST" and r.path.endswith(("/Messages.json", "/Calls.json"))
    ]
    figures = {
        "fault": name,
        "notifications": len(rows),
        "delivered_to_provider": len(centre.fake.messages) + len(centre.fake.calls),
        "create_requests": len(creates),
        "faults_served": sorted(str(r.fault) for r in creates if r.fault),
        "rows": rows,
        **extra,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=1) + "\n")


async def test_twilio_5xx_timeouts_lost_and_slow_answers_with_the_engine_killed_mid_send(centre: Centre) -> None:
    fake = centre.fake
    # Taken by the SMS creates in order, whichever contact's they are.
    fake.fail_next(2, status=503, only="messages")
    fake.fail_next(1, status=500, only="messages")
    fake.slow_next(1, seconds=1.5, only="messages")  # answered within the 3 s timeout
    fake.hang_next(1, seconds=6, only="messages")  # no answer, nothing made: a timeout, tried again
    fake.lose_next(1, lost_as="drop", only="messages")  # made, the answer lost: reconciled, not resent
    alarm = await centre.raise_sos()
    env = {**centre.env, "OPASKA_NOTIFY_RECONCILE_AFTER_S": "1"}
    first_log, second_log = centre.tmp_path / "engine-1.log", centre.tmp_path / "engine-2.log"
    with opaska_process(["engine"], env, first_log) as first:

        async def failing() -> bool:
            return fake.pending_faults <= 4  # the first two creates have failed

        await eventually(failing, "the first SMS failed twice", first_log)
        first.kill()
        first.wait(10)
    await asyncio.sleep(2)
    with opaska_process(["engine"], env, second_log):

        async def done() -> bool:
            statuses = await centre.statuses(alarm)
            return (
                await centre.escalation_state(alarm) == "done"
                and len(statuses) == 2
                and all(status == NotificationStatus.SENT for _, status in statuses)
            )

        await eventually(done, "every SMS sent and the escalation done", second_log, timeout=90)
        await asyncio.sleep(1.5)  # room for a second effect to show
    rows = await centre.notifications(alarm)
    _record(
        "twilio_failing",
        centre,
        [(r.to_phone, r.status, f"attempts={r.attempts}") for r in rows],
        steps_fired=len(await centre.steps_fired(alarm)),
    )
    assert fake.pending_faults == 0
    assert await centre.steps_fired(alarm) == ALL_STEPS
    assert await centre.statuses(alarm) == [(CONTACT_1, "sent"), (CONTACT_2, "sent")]
    # Never lost, never twice: one SMS each at the provider, and the rows name exactly those.
    assert (centre.sms_to(CONTACT_1), centre.sms_to(CONTACT_2)) == (1, 1)
    assert {row.provider_id for row in rows} == {message.sid for message in fake.messages}
    assert sum(row.attempts for row in rows) >= 5  # the failures were retried, not skipped


async def test_sms_that_keep_failing_fail_over_to_one_call_each(centre: Centre) -> None:
    fake = centre.fake
    # Twilio's SMS side is down: every SMS try gets a 503 (3 tries each). Calls still work.
    fake.fail_next(6, status=503, only="messages")
    alarm = await centre.raise_sos()
    env = {**centre.env, "OPASKA_NOTIFY_MAX_ATTEMPTS": "3", "OPASKA_NOTIFY_RECONCILE_AFTER_S": "1"}
    log = centre.tmp_path / "engine.log"
    with opaska_process(["engine"], env, log):

        async def called() -> bool:
            rows = await centre.notifications(alarm)
            return sum(1 for r in rows if r.channel == "voice" and r.status == NotificationStatus.SENT) == 2

        await eventually(called, "both failed SMS followed by a call", log, timeout=90)
        await asyncio.sleep(1.5)  # room for a second effect to show
    rows = await centre.notifications(alarm)
    _record("twilio_failover", centre, [(r.to_phone, r.channel, f"{r.status} attempts={r.attempts}") for r in rows])
    assert sorted((r.channel, r.to_phone, r.status, r.attempts) for r in rows) == [
        ("sms", CONTACT_1, "failed", 3),
        ("sms", CONTACT_2, "failed", 3),
        ("voice", CONTACT_1, "sent", 1),
        ("voice", CONTACT_2, "sent", 1),
    ]
    assert fake.pending_faults == 0
    assert (len(fake.calls_to(CONTACT_1)), len(fake.calls_to(CONTACT_2))) == (1, 1)
    assert fake.messages == []
