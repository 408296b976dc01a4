"""``fleet status``: one line per run (state, attempts, job, verdict) and the counts, with rich."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from .state import RunState
from .store import FleetMeta

STYLE = {"done": "green", "running": "cyan", "queued": "blue", "new": "dim", "retry": "yellow",
         "failed": "bold red", "error": "bold red"}
ORDER = ("done", "running", "queued", "new", "retry", "failed", "error")


def counts(states: list[RunState]) -> str:
    c = Counter(s.status for s in states)
    return ", ".join(f"{c[k]} {k}" for k in ORDER if c[k])


def render_status(console: Console, meta: FleetMeta, states: list[RunState], only_open: bool = False) -> None:
    t = Table(title=f"fleet {meta.name}: {len(states)} runs ({counts(states)})", title_justify="left")
    for col in ("run", "state", "attempt", "job", "verdict", "ended", "note"):
        t.add_column(col, overflow="fold")
    for s in states:
        if only_open and s.terminal:
            continue
        a = s.latest
        verdict = (a.verdict or "") if a else ""
        t.add_row(s.run.key, f"[{STYLE.get(s.status, '')}]{s.status}[/]", f"{s.used}/{meta.max_attempts}",
                  s.job or "", verdict, (a.end_reason or "") if a else "", s.note)
    console.print(t)


def progress_line(meta: FleetMeta, states: list[RunState]) -> str:
    return f"fleet {meta.name}: {counts(states)}"
