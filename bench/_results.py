"""How a bench script hands its numbers to ``make bench`` (bench/run_all.py).

Every script keeps printing its own table for people; it also calls :func:`record` for
each comparison it measured side by side, and :func:`flush` at the end. When run by
run_all.py (``PTAUDIT_BENCH_OUT`` set) the rows are appended to that file as JSON lines;
alone, nothing else happens.

A row is one measured value beside the baseline it was measured against *in the same
run*: ``ratio`` = value / baseline, and ``better`` says which direction is good, so a
reader never has to guess whether 0.8× is a win.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

_ROWS: list[dict[str, Any]] = []


def record(bench: str, what: str, value: float, unit: str, baseline: float | None = None,
           baseline_name: str | None = None, better: Literal["higher", "lower"] = "higher",
           goal: float | None = None, note: str = "") -> None:
    """One result. ``goal`` is the ratio the issue asks for, if any (checked by run_all)."""
    ratio = value / baseline if baseline not in (None, 0) else None
    _ROWS.append({"bench": bench, "what": what, "value": value, "unit": unit, "baseline": baseline,
                  "baseline_name": baseline_name, "ratio": ratio, "better": better, "goal": goal, "note": note})


def flush() -> None:
    out = os.environ.get("PTAUDIT_BENCH_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            for row in _ROWS:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
    _ROWS.clear()
