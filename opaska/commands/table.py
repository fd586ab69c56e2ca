"""The shape of a command in the table, and the parser built from the table.

Help texts in the table are message ids (opaska/messages/): the parser is built in the language
the command line speaks, so `opaska --help` and `opaska --lang en --help` differ only in words."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opaska.messages import say

if TYPE_CHECKING:
    from core.settings import Settings


Runner = Callable[..., Coroutine[Any, Any, int | None]]

# Namespace attributes the parser sets for itself: never handed to a command's function.
_RUNNER = "_runner"
_COMMAND = "_command"
_SUBCOMMAND = "_subcommand"
_SERVICE = "_service"


@dataclass(frozen=True)
class Arg:
    """One `add_argument` call: the argument's names and argparse's options (`help` a message id).
    Each `dest` is the keyword its command's function takes, so the parsed arguments are handed
    over as they are."""

    names: tuple[str, ...]
    options: dict[str, Any]


def arg(*names: str, **options: Any) -> Arg:
    return Arg(names, options)


# A listing command's machine-readable form: one JSON array on standard output, for scripts.
JSON = Arg(("--json",), {"dest": "as_json", "action": "store_true", "help": "arg.json"})


@dataclass(frozen=True)
class Command:
    """A command: `run` names its function as "module:function", called as
    `function(settings, **arguments)` and returning the exit status (None: 0). `help` and
    `description` are message ids."""

    name: str
    help: str
    run: str
    description: str | None = None
    args: Sequence[Arg] = ()
    # A long-running part of the platform (run, gateway, engine, console): it logs at [log] level.
    # Any other command is a tool: it prints its answer, and logs only warnings unless --verbose.
    service: bool = False


@dataclass(frozen=True)
class Group:
    """A command with subcommands, e.g. `opaska band …`."""

    name: str
    help: str
    commands: Sequence[Command]
    description: str | None = None


def build_parser(table: Sequence[Command | Group], **parser_options: Any) -> argparse.ArgumentParser:
    """The argparse parser of every command in `table`, in its order."""
    parser = argparse.ArgumentParser(**parser_options)
    commands = parser.add_subparsers(dest=_COMMAND, required=True, metavar="COMMAND")
    for entry in table:
        if isinstance(entry, Command):
            _add_command(commands, entry)
            continue
        group = commands.add_parser(entry.name, help=say(entry.help), description=_about(entry.description))
        subcommands = group.add_subparsers(dest=_SUBCOMMAND, required=True, metavar=f"{entry.name.upper()}_COMMAND")
        for command in entry.commands:
            _add_command(subcommands, command)
    return parser


def _add_command(commands: Any, command: Command) -> None:
    parser = commands.add_parser(command.name, help=say(command.help), description=_about(command.description))
    for argument in command.args:
        options = argument.options
        if "help" in options:
            options = {**options, "help": say(options["help"])}
        parser.add_argument(*argument.names, **options)
    parser.set_defaults(**{_RUNNER: command.run, _SERVICE: command.service})


def _about(description: str | None) -> str | None:
    return say(description) if description else None


def is_service(args: argparse.Namespace) -> bool:
    return bool(getattr(args, _SERVICE, False))


def invocation(settings: Settings, args: argparse.Namespace) -> Coroutine[Any, Any, int | None]:
    """The parsed command's function called with its arguments (importing its module now)."""
    arguments = {name: value for name, value in vars(args).items() if not name.startswith("_")}
    module, function = getattr(args, _RUNNER).split(":")
    runner: Runner = getattr(importlib.import_module(module), function)
    return runner(settings, **arguments)
