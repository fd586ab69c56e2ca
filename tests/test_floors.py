"""The floors (docs/architecture.md): each package imports only itself and the floors below it.

core < registry < alarm_center < gateway < console < opaska (the shell: CLI, wiring, demo) and the
simulator beside it; bench above those; tests above everything. Read from the source with `ast`,
so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack_independent

REPO = Path(__file__).resolve().parent.parent
FLOOR = {
    "core": 0,
    "registry": 1,
    "alarm_center": 2,
    "gateway": 3,
    "console": 4,
    "opaska": 5,
    "simulator": 5,
    "bench": 6,
    "tests": 7,
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level package, line) of every absolute import of one of ours."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {(name.split(".")[0], node.lineno) for name in names if name.split(".")[0] in FLOOR}
    return found


def upward_imports() -> list[str]:
    wrong = []
    for package, floor in FLOOR.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for imported, line in sorted(imported_packages(path)):
                if FLOOR[imported] > floor:
                    wrong.append(f"{path.relative_to(REPO)}:{line} ({package}) imports {imported}")
    return wrong


def test_no_package_imports_a_floor_above_it() -> None:
    wrong = upward_imports()
    assert not wrong, "imports reaching up a floor:\n" + "\n".join(wrong)
