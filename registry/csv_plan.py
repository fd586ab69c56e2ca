"""The action plan in the import file: columns plan_krok1 … plan_krok10, one step per cell, in order.

A cell holds a keyword (mieszkaniec, kontakt1 … kontakt5 for that row's contact, klucz, sejf,
medyczne, 112) or, if it is none of these, the words of an instruction for the operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from registry.action_plans import MAX_TEXT
from registry.model import PlanStepKind

MAX_PLAN_STEPS = 10
PLAN_COLUMN = re.compile(r"^plan_krok([1-9]|10)$")
KEYWORDS = {
    "mieszkaniec": PlanStepKind.CALL_RESIDENT,
    "klucz": PlanStepKind.CALL_KEY_HOLDER,
    "sejf": PlanStepKind.KEY_SAFE,
    "medyczne": PlanStepKind.MEDICAL,
    "112": PlanStepKind.EMERGENCY,
}
CONTACT_KEYWORD = re.compile(r"^kontakt([1-5])$")


def read_plan(
    values: dict[str, str], contact_numbers: set[int], problem: Callable[[str, str], None]
) -> list[tuple[str, int | None, str]]:
    """The row's plan as (kind, contact number in the row or None, instruction text), in step order."""
    steps: list[tuple[str, int | None, str]] = []
    for number in range(1, MAX_PLAN_STEPS + 1):
        column = f"plan_krok{number}"
        cell = values.get(column, "").strip()
        if not cell:
            continue
        word = cell.lower()
        contact = CONTACT_KEYWORD.match(word)
        if word in KEYWORDS:
            steps.append((KEYWORDS[word].value, None, ""))
        elif contact:
            if int(contact.group(1)) not in contact_numbers:
                problem(column, f"w wierszu nie ma kontaktu {contact.group(1)} (kolumny kontakt{contact.group(1)}_…)")
            steps.append((PlanStepKind.CALL_CONTACT.value, int(contact.group(1)), ""))
        elif len(cell) > MAX_TEXT:
            problem(column, f"polecenie dłuższe niż {MAX_TEXT} znaków")
        else:
            steps.append((PlanStepKind.INSTRUCTION.value, None, cell))
    return steps
