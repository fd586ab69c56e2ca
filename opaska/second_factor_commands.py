"""`opaska user reset-2fa USERNAME`: take away a person's second factor (a lost phone) from the
command line, audited like an administrator's reset in the console (with no actor: whoever runs
the server's commands). Their console sessions end; if their role must have a second factor
([console] require_2fa_for) they enrol a new one at their next login."""

from __future__ import annotations

from core.clock import SystemClock
from core.settings import Settings
from core.startup import StartupError
from opaska.registry_cli import transaction
from registry import second_factor, staff
from registry.second_factor_model import SecondFactorChange


async def reset(settings: Settings, *, username: str) -> int:
    async with transaction(settings) as session:
        member = await staff.find_by_username(session, username)
        if member is None:
            raise StartupError(f"no staff account {username!r}")
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
        print(f"second factor of {member.username} removed; their console sessions are ended")
    else:
        print(f"{member.username} has no second factor; nothing changed")
    return 0
