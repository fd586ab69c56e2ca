"""The command line speaks one language per message catalogue: Polish by default, English with
`opaska --lang en` or an en_* locale; JSON stays the same in both; bad input exits 2 in the chosen
language; `opaska --help` stays light (no pydantic, no SQLAlchemy)."""

from __future__ import annotations

import ast
import json
import re
import string
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from opaska.cli import COMMANDS
from opaska.commands.table import Command, Group, build_parser
from opaska.messages import LANGUAGES, catalogue, from_locale, option_in, use
from opaska.messages.argparse_words import IDS as ARGPARSE_IDS
from simulator.lab.processes import REPO, opaska_env
from tests.support.processes import run_opaska_command

PL, EN = catalogue("pl"), catalogue("en")


def _placeholders(message: str) -> list[str]:
    """str.format fields (with their conversion) and argparse's %-fields, in order."""
    fields = [f"{{{name}!{conversion}}}" for _, name, _, conversion in string.Formatter().parse(message) if name]
    return sorted(fields + re.findall(r"%\(\w+\)[sr]|%[sr]", message))


def test_both_catalogues_hold_the_same_ids_and_placeholders() -> None:
    assert sorted(set(PL) - set(EN)) == []
    assert sorted(set(EN) - set(PL)) == []
    differ = {key: (_placeholders(PL[key]), _placeholders(EN[key])) for key in PL if key in EN}
    assert {key: pair for key, pair in differ.items() if pair[0] != pair[1]} == {}


def _table_ids() -> set[str]:
    found: set[str] = set()

    def command(entry: Command | Group) -> None:
        found.update(text for text in (entry.help, entry.description) if text)
        for argument in entry.args if isinstance(entry, Command) else ():
            if "help" in argument.options:
                found.add(argument.options["help"])

    for entry in COMMANDS:
        command(entry)
        for sub in entry.commands if isinstance(entry, Group) else ():
            command(sub)
    return found


def _said_ids() -> set[str]:
    """Every id given as a literal to `say(…)` in opaska/ (also `say("a" if … else "b")`)."""
    found: set[str] = set()
    for path in (REPO / "opaska").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "say" and node.args:
                first = node.args[0]
                options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
                found.update(o.value for o in options if isinstance(o, ast.Constant) and isinstance(o.value, str))
    return found


def test_every_message_the_command_line_names_is_in_the_catalogues() -> None:
    named = _table_ids() | _said_ids() | set(ARGPARSE_IDS.values())
    assert len(named) > 200  # the walk found the table and the commands
    assert sorted(named - set(PL)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_parser_is_built_in_each_language(language: str) -> None:
    use(language)  # type: ignore[arg-type]
    try:
        help_text = build_parser(COMMANDS, prog="opaska").format_help()
    finally:
        use("pl")
    assert ("wirtualne opaski" in help_text) == (language == "pl")
    assert ("virtual bands" in help_text) == (language == "en")


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "pl"),
        ({"LANG": "pl_PL.UTF-8"}, "pl"),
        ({"LANG": "C.UTF-8"}, "pl"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_GB"}, "en"),
        ({"LC_MESSAGES": "en_US.UTF-8", "LANG": "pl_PL.UTF-8"}, "en"),
        ({"LC_ALL": "pl_PL.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "pl"),
        ({"LC_ALL": "", "LANG": "en_IE.UTF-8"}, "en"),
    ],
)
def test_the_locale_chooses_when_no_option_does(environ: dict[str, str], language: str) -> None:
    assert from_locale(environ) == language


def test_only_a_lang_before_the_command_is_the_command_lines() -> None:
    assert option_in(["--lang", "en", "municipality", "list"]) == "en"
    assert option_in(["-v", "--lang=en", "report"]) == "en"
    # After the command's name it is the report's own language.
    assert option_in(["report", "--lang", "en", "--month", "2026-11"]) is None
    assert option_in(["--lang", "de", "--help"]) is None


def _help(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opaska.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _locale(value: str) -> dict[str, str]:
    env = {k: v for k, v in opaska_env().items() if not k.startswith("LC_")}
    env["LANG"] = value
    return env


def test_help_is_polish_by_default_and_english_when_asked_or_by_the_locale() -> None:
    polish = _help("--help", env=_locale("C.UTF-8"))
    assert polish.returncode == 0
    assert polish.stdout.startswith("użycie: opaska")
    assert "wszystko w jednym procesie" in polish.stdout
    assert "pokaż tę pomoc i zakończ" in polish.stdout
    english = _help("--lang", "en", "--help", env=_locale("C.UTF-8"))
    assert english.stdout.startswith("usage: opaska")
    assert "everything in one process" in english.stdout
    by_locale = _help("band", "register", "--help", env=_locale("en_US.UTF-8"))
    assert "register a band" in by_locale.stdout.lower()
    # The option wins over the locale.
    assert "zarejestruj opaskę" in _help("--lang", "pl", "band", "--help", env=_locale("en_US.UTF-8")).stdout.lower()


def test_a_bad_argument_exits_2_in_the_chosen_language() -> None:
    polish = _help("report", "--format", "doc", env=_locale("C.UTF-8"))
    assert polish.returncode == 2
    assert "opaska report: błąd: argument --format: nieprawidłowy wybór: 'doc'" in polish.stderr
    english = _help("--lang", "en", "report", "--format", "doc", env=_locale("C.UTF-8"))
    assert english.returncode == 2
    assert "opaska report: error: argument --format: invalid choice: 'doc'" in english.stderr


def test_help_loads_neither_pydantic_nor_sqlalchemy() -> None:
    """`opaska --help` in either language answers from the table and the catalogues alone."""
    probe = (
        "import sys\n"
        "from opaska.cli import main\n"
        "for args in (['--help'], ['--lang', 'en', 'band', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'sqlalchemy', 'pydantic_settings'))\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=_locale("C.UTF-8"), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"


@pytest.mark.asyncio
async def test_a_command_answers_in_polish_by_default_and_english_when_asked(database_url: str) -> None:
    assert (await run_opaska_command(database_url, "municipality", "list")).stdout.strip() == "brak gmin"
    english = await run_opaska_command(database_url, "--lang", "en", "municipality", "list")
    assert english.stdout.strip() == "no municipalities"
    by_locale = await run_opaska_command(database_url, "municipality", "list", locale="en_US.UTF-8")
    assert by_locale.stdout.strip() == "no municipalities"

    code = f"02{uuid.uuid4().hex[:5]}"
    added = await run_opaska_command(database_url, "municipality", "add", code, "--name", "Gmina Łąkowa")
    assert added.stdout.strip() == f"gmina {code}: Gmina Łąkowa"
    # JSON is for scripts: the same whatever the language.
    listings = [
        (await run_opaska_command(database_url, *lang, "municipality", "list", "--json")).stdout
        for lang in ((), ("--lang", "en"))
    ]
    assert listings[0] == listings[1]
    assert [m["code"] for m in json.loads(listings[0])] == [code]


@pytest.mark.asyncio
async def test_bad_input_exits_2_with_the_reason_in_the_chosen_language(database_url: str) -> None:
    polish = await run_opaska_command(database_url, "duty", "list", "--at", "tonight")
    assert polish.returncode == 2
    assert polish.stderr.strip().splitlines()[-1] == (
        "opaska: --at: to nie jest czas w postaci 2026-11-23T20:00 (podano 'tonight')"
    )
    english = await run_opaska_command(database_url, "--lang", "en", "duty", "list", "--at", "tonight")
    assert english.returncode == 2
    assert english.stderr.strip().splitlines()[-1] == "opaska: --at: not a time like 2026-11-23T20:00 (got 'tonight')"
    unknown = await run_opaska_command(database_url, "user", "passwd", "nobody", "--password-stdin", locale="en_GB")
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "opaska: no staff account 'nobody'")


@pytest.mark.asyncio
async def test_the_reports_language_follows_the_command_lines(database_url: str, tmp_path: Path) -> None:
    code = f"02{uuid.uuid4().hex[:5]}"
    await run_opaska_command(database_url, "municipality", "add", code, "--name", "Gmina Łąkowa")
    report = ("report", "--municipality", code, "--month", "2025-01")

    async def csv(*args: str) -> list[str]:
        done = await run_opaska_command(database_url, *args)
        assert done.returncode == 0, done.stderr
        # Without the line saying when it was made (seconds apart).
        return [line for line in done.stdout.splitlines() if not re.search(r"\d\d:\d\d:\d\d", line)]

    english = await csv("--lang", "en", *report)
    assert english == await csv(*report, "--lang", "en")
    polish = await csv(*report)
    assert polish == await csv("--lang", "en", *report, "--lang", "pl")  # the report's own --lang wins
    assert polish != english
    written = await run_opaska_command(database_url, *report, "--out", str(tmp_path / "r.csv"))
    assert written.stderr.strip().endswith("bajtów)")
