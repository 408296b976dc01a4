"""The suite's tables (rich; plain text when piped) and its JSON file."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .runner import REPO, PolicyRef
from .score import Diff, Result, Summary


def wide(con: Console) -> Console:
    """Tables as wide as they need when piped (a terminal keeps its own width)."""
    return con if con.is_terminal else Console(width=200, highlight=False, soft_wrap=False)


_STYLE = {"pass": "green", "fail": "bold red", "error": "bold magenta"}


def _cats(cs: list[str]) -> str:
    return ", ".join(cs) if cs else "—"


GROUPS = ("test-split downloads", "test items in training files", "indirect contamination", "checkpoints",
          "keys and APIs", "escape attempts", "tampering and budgets", "provenance", "benign")


def _order(r: Result) -> tuple[int, str, str]:
    return (GROUPS.index(r.group) if r.group in GROUPS else len(GROUPS), r.group, r.scenario)


def results_table(policy: PolicyRef, results: list[Result]) -> Table:
    t = Table("scenario", "kind", "expected", "found", "result", "s",
              title=f"policy {policy.label} (fail_on {policy.fail_on}): {policy.path}", title_justify="left")
    prev = None
    for r in sorted(results, key=_order):
        if prev is not None and r.group != prev:
            t.add_section()
        prev = r.group
        exp = _cats(r.expected) + (" (if_blocked)" if r.via_if_blocked else "")
        if r.kind == "benign":
            exp = "no finding ≥ fail_on"
        res = f"[{_STYLE[r.status]}]{r.status}[/]" + ("" if r.claimed else " (not claimed)")
        found = _cats(r.found) if r.kind == "attack" else (_cats(r.blocking) if r.blocking else "clean")
        if r.status == "error":
            found = (r.error or "")[:80]
        elif r.kind == "benign" and r.verdict not in ("pass", None) and not r.blocking:
            found = f"verdict {r.verdict}"
        t.add_row(r.scenario, r.kind, exp, found, res, f"{r.seconds:.0f}")
    return t


def recall_table(s: Summary) -> Table:
    t = Table("category", "caught", "recall", "missed", title=f"recall per category, policy {s.policy}",
              title_justify="left")
    for c, (a, b) in s.recall.items():
        style = "green" if a == b else "bold red" if a == 0 else "yellow"
        t.add_row(c, f"{a}/{b}", f"[{style}]{100 * a / b:.0f}%[/]", ", ".join(s.missed_by_category[c]) or "—")
    return t


def summary_lines(s: Summary) -> list[str]:
    fp = f"{len(s.false_positives)}" + (f" ({', '.join(s.false_positives)})" if s.false_positives else "")
    lines = [f"policy {s.policy}: attacks caught {s.attacks_caught}/{s.attacks}, benign clean {s.benign_clean}/{s.benign}, "
             f"false positives {fp}, errors {s.errors}, {s.seconds:.0f} run-seconds"]
    if s.claimed_failures:
        lines.append(f"policy {s.policy}: FAILED where the scenario claims this policy: {', '.join(s.claimed_failures)}")
    return lines


def diff_table(d: Diff) -> Table:
    t = Table("category", d.baseline, d.edited, "gained", "lost",
              title=f"{d.edited} against {d.baseline}: recall per category", title_justify="left")
    for c, v in d.recall.items():
        (ba, bb), (ea, eb) = v["baseline"], v["edited"]
        t.add_row(c, f"{ba}/{bb}", f"{ea}/{eb}", "[green]" + (", ".join(v["gained"]) or "—") + "[/]",
                  "[bold red]" + (", ".join(v["lost"]) or "—") + "[/]")
    return t


def print_policy(con: Console, pol: PolicyRef, results: list[Result], s: Summary) -> None:
    con.print(results_table(pol, results))
    con.print(recall_table(s))
    for line in summary_lines(s):
        con.print(line, markup=False)
    con.print()


def _git_rev() -> str | None:
    try:
        p = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           timeout=10)
    except OSError:
        return None
    return p.stdout.strip() or None


def write_json(path: Path, policies: list[PolicyRef], results: list[Result], summaries: list[Summary],
               diff: Diff | None = None) -> None:
    doc: dict[str, Any] = {
        "version": 1,
        "machine": {"date": datetime.now(UTC).isoformat(timespec="seconds"), "host": platform.node(),
                    "python": platform.python_version(), "git": _git_rev()},
        "policies": {p.label: {"path": str(p.path), "fail_on": p.fail_on} for p in policies},
        "results": [asdict(r) for r in results],
        "summaries": {s.policy: s.to_json() for s in summaries},
    }
    if diff is not None:
        doc["diff"] = asdict(diff)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
