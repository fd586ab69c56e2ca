"""argparse's own words (headings, its refusals) in the command line's language.

argparse looks each of them up through its module's `_` (gettext) when it builds a parser and when
it parses; Python ships no Polish for it, so while `opaska` builds and parses, `_` is ours. The
English catalogue holds argparse's own strings, so both languages go the same way."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from opaska.messages import say

# argparse's message (Python 3.11) → our message id.
IDS = {
    "usage: ": "argparse.usage",
    "positional arguments": "argparse.positional",
    "options": "argparse.options",
    "show this help message and exit": "argparse.help",
    "%(prog)s: error: %(message)s\n": "argparse.error",
    "argument %(argument_name)s: %(message)s": "argparse.argument",
    "the following arguments are required: %s": "argparse.required",
    "one of the arguments %s is required": "argparse.one_required",
    "not allowed with argument %s": "argparse.not_allowed",
    "unrecognized arguments: %s": "argparse.unrecognized",
    "invalid choice: %(value)r (choose from %(choices)s)": "argparse.invalid_choice",
    "invalid %(type)s value: %(value)r": "argparse.invalid_value",
    "expected one argument": "argparse.expected_one",
    "expected at most one argument": "argparse.expected_at_most_one",
    "expected at least one argument": "argparse.expected_at_least_one",
    "ambiguous option: %(option)s could match %(matches)s": "argparse.ambiguous",
}


def _translated(message: str | None) -> str | None:
    identifier = IDS.get(message) if message is not None else None
    return say(identifier) if identifier else message


@contextmanager
def speaking() -> Iterator[None]:
    """argparse in the chosen language while the block runs (then as it was: tests call
    `opaska.cli.main` in their own process)."""
    saved = vars(argparse)["_"]
    # Not in argparse's stubs: the module's gettext alias, read at every call.
    setattr(argparse, "_", _translated)  # noqa: B010
    try:
        yield
    finally:
        setattr(argparse, "_", saved)  # noqa: B010
