"""What the command line says to a person, from one catalogue per language: Polish (pl.py, the
default) or English (en.py), chosen once per process by `opaska --lang` or the locale.

A message is looked up by its id and filled with `str.format` placeholders. Both catalogues hold
the same ids with the same placeholders (tests/test_cli_language.py checks). JSON output (--json)
never goes through here: its keys and values stay the same in every language, for scripts.

Kept free of heavy imports: `opaska --help` builds its parser from these texts."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Literal, cast

Language = Literal["pl", "en"]
LANGUAGES: tuple[Language, ...] = ("pl", "en")
DEFAULT: Language = "pl"

# The locale variables that name the language of messages, in the order POSIX reads them.
_LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_chosen: Language = DEFAULT


def from_locale(environ: Mapping[str, str]) -> Language:
    """English when the locale's messages are English (en_US.UTF-8, en_GB, en); anything else
    (pl_PL.UTF-8, C.UTF-8, none at all) is Polish: the people this serves read Polish."""
    for variable in _LOCALE_VARIABLES:
        value = environ.get(variable)
        if value:
            return "en" if value.lower().startswith("en") else "pl"
    return DEFAULT


def option_in(argv: Sequence[str]) -> Language | None:
    """The value of the global `--lang` among the options before the command's name (after it,
    `--lang` is the command's own, e.g. the report's language); None if it is not given or not a
    language (argparse then refuses it, in the default language)."""
    found: str | None = None
    words = iter(argv)
    for word in words:
        if word == "--lang":
            found = next(words, None)
        elif word.startswith("--lang="):
            found = word.removeprefix("--lang=")
        elif not word.startswith("-"):
            break  # the command's name: what follows is the command's
    return found if found in LANGUAGES else None


def use(language: Language) -> None:
    """Speak `language` from now on (the process's one choice, made by `opaska.cli.main`)."""
    global _chosen
    _chosen = language


def language() -> Language:
    """The language the command line speaks in this process."""
    return _chosen


def catalogue(language: Language) -> Mapping[str, str]:
    """One language's messages by id."""
    module = importlib.import_module(f"opaska.messages.{language}")
    return cast(Mapping[str, str], module.MESSAGES)


def say(message_id: str, /, **values: object) -> str:
    """The message `message_id` in the chosen language, its {placeholders} filled from `values`."""
    return catalogue(_chosen)[message_id].format(**values)
