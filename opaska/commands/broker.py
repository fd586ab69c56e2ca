"""`opaska broker …`: files for an external MQTT broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opaska.commands.table import Command, Group, arg

if TYPE_CHECKING:
    from core.settings import Settings

GROUP = Group(
    "broker",
    help="files for an external MQTT broker",
    description="Write what an external broker needs from the registry (see docs/brokers.md).",
    commands=(
        Command(
            "mosquitto-files",
            help="write Mosquitto's password and ACL files once",
            description="Render Mosquitto's password file (the service account of OPASKA_MQTT_URL and every band "
            "that may connect) and ACL file into DIR, rewriting a file only if it changed. The gateway keeps them in "
            "step by itself when OPASKA_MQTT_MOSQUITTO_AUTH_DIR is set; this writes them once, e.g. before Mosquitto "
            "starts.",
            run="opaska.commands.broker:mosquitto_files",
            args=(
                arg(
                    "--dir", dest="directory", required=True, metavar="DIR", help="where to write `passwords` and `acl`"
                ),
                arg(
                    "--reload-pid-file",
                    dest="pid_file",
                    metavar="FILE",
                    help="after a change, send SIGHUP to the process whose pid is in FILE",
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
        raise StartupError(f"cannot write Mosquitto's files in {directory}: {exc}") from None
    finally:
        await engine.dispose()
    state = "written" if result.changed else "unchanged"
    reload = ", Mosquitto signalled" if result.reloaded else ""
    paths = f"{files.password_path}, {files.service_password_path} and {files.acl_path}"
    print(f"{paths} {state} ({result.bands} bands){reload}")
    return 0
