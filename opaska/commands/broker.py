"""`opaska broker …`: files for an external MQTT broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opaska.commands.table import Command, Group, arg

if TYPE_CHECKING:
    from core.settings import Settings

GROUP = Group(
    "broker",
    help="cmd.broker",
    description="cmd.broker.about",
    commands=(
        Command(
            "mosquitto-files",
            help="cmd.broker.mosquitto-files",
            description="cmd.broker.mosquitto-files.about",
            run="opaska.commands.broker:mosquitto_files",
            args=(
                arg(
                    "--dir", dest="directory", required=True, metavar="DIR", help="arg.broker.mosquitto-files.directory"
                ),
                arg(
                    "--reload-pid-file",
                    dest="pid_file",
                    metavar="FILE",
                    help="arg.broker.mosquitto-files.pid_file",
                ),
            ),
        ),
    ),
)


async def mosquitto_files(settings: Settings, *, directory: str, pid_file: str | None) -> int:
    from pathlib import Path

    from core.db.engine import make_session_factory
    from core.startup import StartupError
    from gateway.broker.mosquitto_auth import MosquittoAuthFiles
    from opaska.exits import BadInput
    from opaska.messages import say
    from opaska.startup import open_database

    try:
        files = MosquittoAuthFiles.from_settings(
            settings, directory=Path(directory), pid_file=Path(pid_file) if pid_file else None
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    engine = await open_database(settings, migrate=False)
    try:
        result = await files.sync(make_session_factory(engine))
    except OSError as exc:
        raise BadInput(say("broker.cannot_write", directory=directory, reason=exc)) from None
    finally:
        await engine.dispose()
    paths = say("broker.paths", passwords=files.password_path, service=files.service_password_path, acl=files.acl_path)
    state = say("broker.written" if result.changed else "broker.unchanged", paths=paths, bands=result.bands)
    print(state + (say("broker.signalled") if result.reloaded else ""))
    return 0
