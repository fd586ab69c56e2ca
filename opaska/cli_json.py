"""`--json`: a listing as one JSON array on standard output (UTF-8, Polish letters as they are)."""

from __future__ import annotations

import json
from typing import Any


def print_json(rows: list[dict[str, Any]]) -> None:
    print(json.dumps(rows, ensure_ascii=False, indent=2))
