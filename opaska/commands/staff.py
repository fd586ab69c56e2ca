"""`opaska duty …` (opaska/duty_commands.py) and `opaska user …` (opaska/user_commands.py): the people
of the centre."""

from __future__ import annotations

from opaska.commands.table import JSON, Command, Group, arg

PASSWORD_STDIN = arg("--password-stdin", action="store_true", help="arg.password_stdin")

DUTY = Group(
    "duty",
    help="cmd.duty",
    description="cmd.duty.about",
    commands=(
        Command(
            "add",
            help="cmd.duty.add",
            run="opaska.duty_commands:add",
            args=(
                arg("--role", required=True, help="arg.duty.add.role"),
                arg("--name", required=True, help="arg.duty.add.name"),
                arg("--phone", required=True, help="arg.duty.add.phone"),
                arg("--from", dest="starts", required=True, metavar="TIME", help="arg.duty.add.starts"),
                arg("--to", dest="ends", required=True, metavar="TIME", help="arg.duty.add.ends"),
                arg("--municipality", metavar="CODE", help="arg.duty.add.municipality"),
                arg("--staff-id", type=int, metavar="ID", help="arg.duty.add.staff_id"),
            ),
        ),
        Command(
            "list",
            help="cmd.duty.list",
            run="opaska.duty_commands:list_shifts",
            args=(JSON, arg("--at", metavar="TIME", help="arg.duty.list.at")),
        ),
    ),
)

USER = Group(
    "user",
    help="cmd.user",
    description="cmd.user.about",
    commands=(
        Command(
            "create",
            help="cmd.user.create",
            run="opaska.user_commands:create",
            args=(
                arg("username", help="arg.user.create.username"),
                arg("--role", required=True, choices=("operator", "supervisor", "technician", "administrator")),
                arg("--name", required=True, help="arg.user.create.name"),
                arg(
                    "--municipality",
                    dest="municipalities",
                    action="append",
                    default=[],
                    metavar="CODE",
                    help="arg.user.create.municipalities",
                ),
                PASSWORD_STDIN,
            ),
        ),
        Command(
            "list",
            help="cmd.user.list",
            run="opaska.user_commands:list_users",
            args=(JSON,),
        ),
        Command(
            "passwd",
            help="cmd.user.passwd",
            run="opaska.user_commands:change_password",
            args=(arg("username"), PASSWORD_STDIN),
        ),
        Command(
            "phone",
            help="cmd.user.phone",
            description="cmd.user.phone.about",
            run="opaska.user_commands:set_phone",
            args=(
                arg("username"),
                arg("number", nargs="?", help="arg.user.phone.number"),
                arg("--clear", action="store_true", help="arg.user.phone.clear"),
            ),
        ),
        Command(
            "reset-2fa",
            help="cmd.user.reset-2fa",
            description="cmd.user.reset-2fa.about",
            run="opaska.second_factor_commands:reset",
            args=(arg("username"),),
        ),
    ),
)
