"""`opaska user reset-2fa USERNAME`: take away a person's second factor (a lost phone) from the
command line, audited like an administrator's reset in the console (with no actor: whoever runs
the server's commands). Their console sessions end; if their role must have a second factor
([console] require_2fa_for) they enrol a new one at their next login."""

from __future__ import annotations

from core.clock import SystemClock
from core.settings import Settings
from opaska.exits import BadInput
from opaska.messages import say
from opaska.registry_cli import transaction
from registry import second_factor, staff
from registry.second_factor_model import SecondFactorChange


async def reset(settings: Settings, *, username: str) -> int:
    async with transaction(settings) as session:
        member = await staff.find_by_username(session, username)
        if member is None:
            raise BadInput(say("user.unknown", username=username))
        had = await second_factor.remove(
            session,
            staff_id=member.id,
            actor_id=None,
            now=SystemClock().now(),
            client_ip=None,
            what=SecondFactorChange.RESET,
        )
        if had:
            await staff.remove_sessions(session, staff_id=member.id)
    if had:
        print(say("user.reset_2fa.done", username=member.username))
    else:
        print(say("user.reset_2fa.none", username=member.username))
    return 0
