"""`opaska user …`: console accounts from the command line (the first administrator, above all).

Passwords are read from a prompt (twice, not echoed) or, for scripts, from standard input
(`--password-stdin`, the first line); never from an argument, which `ps` and shell history show.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Sequence

from alarm_center.voice.operator_phone import BadOperatorPhone, set_operator_phone
from core.clock import SystemClock
from core.db.engine import make_session_factory
from core.settings import Settings
from opaska.cli_json import print_json
from opaska.exits import BadInput
from opaska.messages import say
from opaska.registry_cli import reading, transaction
from opaska.startup import open_database
from registry import staff
from registry.staff_passwords import PasswordRejected, check_new_password, hash_password


def read_new_password(*, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass(say("user.password.prompt"))
            again = getpass.getpass(say("user.password.again"))
        except EOFError:
            raise BadInput(say("user.password.none")) from None
        if password != again:
            raise BadInput(say("user.password.differ"))
    try:
        check_new_password(password)
    except PasswordRejected as exc:
        raise BadInput(str(exc)) from None  # worded by the registry, in English
    return password


async def create(
    settings: Settings,
    *,
    username: str,
    role: str,
    name: str,
    municipalities: Sequence[str],
    password_stdin: bool,
) -> int:
    password = read_new_password(from_stdin=password_stdin)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with transaction(settings) as session:
        try:
            ids = await staff.municipality_ids_by_code(session, list(municipalities)) if municipalities else []
            member = await staff.create_staff(
                session,
                SystemClock(),
                username=username,
                full_name=name,
                role=role,
                password_hash=password_hash,
                municipality_ids=ids,
            )
        except staff.StaffError as exc:
            raise BadInput(str(exc)) from None  # worded by the registry, in English
        where = ", ".join(municipalities) if municipalities else say("all_municipalities")
        print(
            say(
                "user.create.done",
                id=member.id,
                username=member.username,
                role=member.role,
                name=member.full_name,
                where=where,
            )
        )
    return 0


async def list_users(settings: Settings, *, as_json: bool = False) -> int:
    async with reading(settings) as session:
        accounts = await staff.all_accounts(session)
    if as_json:
        print_json(
            [
                {
                    "id": m.id,
                    "username": m.username,
                    "role": m.role,
                    "full_name": m.full_name,
                    "municipalities": None if m.role == "administrator" else list(codes),
                    "active": m.active,
                }
                for m, codes in accounts
            ]
        )
        return 0
    for member, codes in accounts:
        if member.role == "administrator":
            where = say("all_municipalities")
        else:
            where = ", ".join(codes) or say("user.list.no_municipality")
        state = "" if member.active else say("user.list.inactive")
        print(f"{member.id:>4} {member.username:<20} {member.role:<14} {member.full_name} ({where}){state}")
    if not accounts:
        print(say("user.list.none"))
    return 0


async def change_password(settings: Settings, *, username: str, password_stdin: bool) -> int:
    engine = await open_database(settings, migrate=False)
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session:
            member = await staff.find_by_username(session, username)
        if member is None:
            raise BadInput(say("user.unknown", username=username))
        password = read_new_password(from_stdin=password_stdin)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with sessions() as session, session.begin():
            await staff.set_password_hash(session, staff_id=member.id, password_hash=password_hash)
            # Whoever knew the old password is logged out everywhere.
            await staff.remove_sessions(session, staff_id=member.id)
        print(say("user.passwd.done", username=member.username))
        return 0
    finally:
        await engine.dispose()


async def set_phone(settings: Settings, *, username: str, number: str | None, clear: bool) -> int:
    """`opaska user phone USERNAME NUMBER|--clear`: where Twilio rings the operator for a call."""
    if clear == (number is not None):
        raise BadInput(say("user.phone.either"))
    async with transaction(settings) as session:
        member = await staff.find_by_username(session, username)
        if member is None:
            raise BadInput(say("user.unknown", username=username))
        try:
            phone = await set_operator_phone(session, member, None if clear else number)
        except BadOperatorPhone as exc:
            raise BadInput(f"number: {exc}") from None  # worded by the voice module, in Polish
    said = say("user.phone.set", phone=phone) if phone else say("user.phone.cleared")
    print(f"{member.username}: {said}")
    return 0
