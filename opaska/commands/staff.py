"""`opaska duty …` (opaska/duty_commands.py) and `opaska user …` (opaska/user_commands.py): the people
of the centre."""

from __future__ import annotations

from opaska.commands.table import JSON, Command, Group, arg

PASSWORD_STDIN = arg("--password-stdin", action="store_true", help="read the password from stdin's first line")

DUTY = Group(
    "duty",
    help="the duty roster: who is supervisor or on-call responder, and when",
    description="Add shifts to the duty roster and see who is on duty. Times without an offset are "
    "Europe/Warsaw time (2026-11-23T20:00); with one they are taken as given (2026-11-23T19:00+00:00).",
    commands=(
        Command(
            "add",
            help="add one shift",
            run="opaska.duty_commands:add",
            args=(
                arg("--role", required=True, help="supervisor or responder (on call, reached by phone)"),
                arg("--name", required=True, help="the person on duty"),
                arg("--phone", required=True, help="their phone (Polish numbers without +48 are fine)"),
                arg("--from", dest="starts", required=True, metavar="TIME", help="when the shift starts"),
                arg("--to", dest="ends", required=True, metavar="TIME", help="when it ends"),
                arg("--municipality", metavar="CODE", help="only for this municipality (default: all)"),
                arg("--staff-id", type=int, metavar="ID", help="the person's staff user, if they have one"),
            ),
        ),
        Command(
            "list",
            help="who is on duty at a time, or every shift not yet over",
            run="opaska.duty_commands:list_shifts",
            args=(JSON, arg("--at", metavar="TIME", help="who is on duty at this time (default: all shifts ahead)")),
        ),
    ),
)

USER = Group(
    "user",
    help="console accounts: create one (the first administrator), list them, change a password, reset a second factor",
    description="Staff accounts of the console. Roles: operator, supervisor, technician, administrator "
    "(administrators see every municipality; the others only those given with --municipality).",
    commands=(
        Command(
            "create",
            help="create an account (the password is asked for twice, or read from stdin)",
            run="opaska.user_commands:create",
            args=(
                arg("username", help="2-64 characters: a-z, digits, '.', '_', '-'"),
                arg("--role", required=True, choices=("operator", "supervisor", "technician", "administrator")),
                arg("--name", required=True, help="the person's full name, as colleagues see it"),
                arg(
                    "--municipality",
                    dest="municipalities",
                    action="append",
                    default=[],
                    metavar="CODE",
                    help="a municipality the account may see (repeatable; required except for administrators)",
                ),
                PASSWORD_STDIN,
            ),
        ),
        Command(
            "list",
            help="every account, its role and municipalities",
            run="opaska.user_commands:list_users",
            args=(JSON,),
        ),
        Command(
            "passwd",
            help="set a new password (ends the account's sessions)",
            run="opaska.user_commands:change_password",
            args=(arg("username"), PASSWORD_STDIN),
        ),
        Command(
            "phone",
            help="set or clear the phone Twilio rings first for the account's calls from an alarm",
            description="An operator's own phone: a number (Polish numbers without +48 are fine; stored "
            "E.164) or a SIP address (sip:anna@centrala.example.pl). Operators can also set it on the "
            "console's page Moje konto (/account).",
            run="opaska.user_commands:set_phone",
            args=(
                arg("username"),
                arg("number", nargs="?", help="the number or sip: address"),
                arg("--clear", action="store_true", help="remove the account's phone"),
            ),
        ),
        Command(
            "reset-2fa",
            help="remove the account's second factor (a lost phone; audited, ends its sessions)",
            description="Takes away the account's TOTP second factor and its recovery codes, and ends its "
            "console sessions. If [console] require_2fa_for lists the account's role, it enrols a new one "
            "at its next login; otherwise it logs in with the password alone until it turns one on again. "
            "Administrators can do the same on the console's page Moje konto (/account).",
            run="opaska.second_factor_commands:reset",
            args=(arg("username"),),
        ),
    ),
)
