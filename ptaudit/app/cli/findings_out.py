"""Printing findings for the replay and scan verbs (text and JSON)."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from ptaudit.core.findings import Finding, ordered

from .output import out

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def table(findings: list[Finding], title: str) -> Table:
    t = Table("severity", "category", "rule", "message", "evidence", title=title, title_justify="left")
    for f in ordered(findings):
        ev = "; ".join(_ev(e) for e in f.evidence[:3]) + (f" (+{len(f.evidence) - 3})" if len(f.evidence) > 3 else "")
        t.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.category, f.rule, f.message, ev)
    return t


def _ev(e: dict[str, Any]) -> str:
    keys = ("seq", "url", "path", "offset", "items", "blob")
    return ", ".join(f"{k}={e[k]}" for k in keys if k in e and e[k] is not None)[:160]


def print_json(obj: Any) -> None:
    out.print(json.dumps(obj, indent=2, sort_keys=True, default=str), markup=False, highlight=False, soft_wrap=True)
