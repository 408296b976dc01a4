"""``fleet collect`` on the terminal: the leaderboard, and the runs table on request (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from .aggregate import Tables

MARK = {"flagged": "⚑", "base_substituted": "ᵇ", "withheld": "—"}


def pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def categories_text(row: dict[str, Any], categories: list[str]) -> str:
    return ", ".join(f"{c} {row[c]}" for c in categories if row.get(c))


def render_leaderboard(console: Console, t: Tables, title: str) -> None:
    tasks = list(dict.fromkeys(c["task"] for c in t.cells))
    cell = {(c["agent"], c["task"]): c for c in t.cells}
    tab = Table(title=f"{title} (scores in %, on_fail = {t.on_fail})", title_justify="left")
    tab.add_column("#", justify="right")
    tab.add_column("agent")
    tab.add_column("score", justify="right")
    for task in tasks:
        tab.add_column(task, justify="right")
    for col in ("runs counted", "pass/fail/incompl.", "findings by category"):
        tab.add_column(col, overflow="fold")
    for i, a in enumerate(t.leaderboard, 1):
        cells = []
        for task in tasks:
            c = cell[(a["agent"], task)]
            marks = "".join(MARK[k] for k in ("flagged", "base_substituted") if c[k])
            cells.append((pct(c["score"]) or "—") + marks + (f" ({c['scored']}/{c['runs']})" if c["scored"] < c["runs"] else ""))
        score = pct(a["score"]) or "—"
        if a["flagged"]:
            score += MARK["flagged"]
        tab.add_row(str(i), a["agent"], score, *cells, f"{a['counted']}/{a['runs']}",
                    f"{a['pass']}/{a['fail']}/{a['incomplete']}", categories_text(a, t.categories))
    console.print(tab)
    console.print("⚑ flagged: counted although the audit did not pass · ᵇ base model score substituted · "
                  "— no score (withheld, not graded or not counted)", markup=False)


def render_runs(console: Console, t: Tables) -> None:
    tab = Table(title="runs", title_justify="left")
    for col in ("run", "attempt", "verdict", "lossy", "findings", "score", "score status", "status"):
        tab.add_column(col, overflow="fold")
    for r in t.runs:
        tab.add_row(r["key"], str(r["counted_attempt"] or ""), r["verdict"] or "", "lossy" if r["lossy"] else "",
                    categories_text(r, t.categories), pct(r["score"]), r["score_status"], r["status"])
    console.print(tab)
