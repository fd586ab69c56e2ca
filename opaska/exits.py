"""The exit statuses of `opaska` (docs/cli.md), and the refusal of bad input that ends in one."""

from __future__ import annotations

OK = 0
# The command could not do its work: the database unreachable or not migrated, the broker refused,
# a service stopped on an error. Running it again once that is fixed may work.
FAILED = 1
# What was given is wrong: arguments argparse refuses (its own exit 2), a value the command or the
# registry refuses, an unknown name or number, a file named that cannot be read or written, a bad
# setting. The same command will fail the same way until the input changes.
BAD_INPUT = 2
# Interrupted (Ctrl+C): 128 + SIGINT, as shells report it.
INTERRUPTED = 130


class BadInput(Exception):
    """Input a command refuses: `opaska.cli` prints `opaska: <message>` on standard error and exits
    with BAD_INPUT. The message is already in the command line's language."""
