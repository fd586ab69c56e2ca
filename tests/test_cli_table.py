"""Every command in the `opaska` table names a function that exists and takes exactly the arguments
the command declares (the table names functions as strings, so the type checker cannot see them)."""

from __future__ import annotations

import argparse
import importlib
import inspect

import pytest

from opaska.cli import COMMANDS
from opaska.commands.table import Command, Group

pytestmark = pytest.mark.stack_independent

# Taken out by `opaska.cli.main` and turned into a setting before the command runs.
HANDLED_BY_MAIN = {"allow_insecure_broker"}


def all_commands() -> list[tuple[str, Command]]:
    found = []
    for entry in COMMANDS:
        if isinstance(entry, Group):
            found += [(f"{entry.name} {command.name}", command) for command in entry.commands]
        else:
            found.append((entry.name, entry))
    return found


@pytest.mark.parametrize(("name", "command"), all_commands(), ids=[name for name, _ in all_commands()])
def test_the_command_runs_a_function_taking_its_arguments(name: str, command: Command) -> None:
    module, function = command.run.split(":")
    runner = getattr(importlib.import_module(module), function)
    assert inspect.iscoroutinefunction(runner), f"{name}: {command.run} is not async"
    parser = argparse.ArgumentParser()
    for argument in command.args:
        parser.add_argument(*argument.names, **argument.options)
    declared = {action.dest for action in parser._actions if action.dest != "help"} - HANDLED_BY_MAIN
    parameters = list(inspect.signature(runner).parameters.values())
    assert parameters[0].name == "settings", f"{name}: the first parameter of {command.run} must be the settings"
    named = {p.name for p in parameters[1:] if p.kind is not inspect.Parameter.VAR_KEYWORD}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    required = {p.name for p in parameters[1:] if p.default is inspect.Parameter.empty and p.name in named}
    assert not required - declared, f"{name}: {command.run} needs {sorted(required - declared)}, never declared"
    assert takes_any or declared <= named, f"{name}: {command.run} does not take {sorted(declared - named)}"
