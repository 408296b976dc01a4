"""``fleet collect``, first half: check every attempt's run directory and decide what counts.

For each attempt the fleet recorded:
  * ``ptaudit verify RUNDIR --head HEAD`` with the head the job kept at its end (outside
    the run directory): a re-chained, edited or truncated log fails here;
  * for a completed attempt whose log verifies, ``ptaudit report RUNDIR --format json`` is
    computed again from the verified log and compared with the stored ``report.json``
    (all but ``grade``, which grading may add later, and ``verify``): an edited report
    fails here.
An attempt is *counted* only if it completed (not interrupted, not partial), verifies
against its kept head, its report matches its log, and it is the run's latest such
attempt. Everything else is listed with the reason it is not counted, never dropped.
The result, one row per attempt, is ``results/attempts.json``: what the aggregation reads
alongside the counted run directories' report.json and grade.json files.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from . import ptcli
from .state import RunState
from .store import Attempt, FleetStore, read_json, write_json

IGNORED_REPORT_KEYS = ("grade", "verify")


@dataclass
class CheckedAttempt:
    key: str
    agent: str
    task: str
    seed: int
    attempt: int
    rundir: str  # relative to the fleet directory
    state: str
    job_id: str | None
    exit_code: int | None
    end_reason: str | None
    head: str | None
    partial: str | None  # the label's reason when the attempt is labelled partial
    verified: bool
    verify: str  # ptaudit verify's one-line summary, or why it did not run
    report_matches: bool | None
    counted: bool = False
    reason: str = ""


def check_attempt(store: FleetStore, st: RunState, a: Attempt) -> CheckedAttempt:
    rundir = store.root / a.rundir
    label = read_json(store.partial_label(a.key, a.attempt))
    partial = str(label.get("reason") or "did not complete") if isinstance(label, dict) else None
    c = CheckedAttempt(a.key, st.run.agent, st.run.task, st.run.seed, a.attempt, a.rundir, a.state, a.job_id,
                       a.exit_code, a.end_reason, a.head, partial, False, "", None)
    if not (rundir / "manifest.json").is_file():
        c.verify = "no run directory (the job stopped before ptaudit created it)"
        return c
    args = ["verify", str(rundir)] + (["--head", a.head] if a.head else [])
    p = ptcli.call(*args, timeout=3600)
    c.verified = p.returncode == 0 and bool(a.head)
    text = p.stdout.strip() or p.stderr.strip()
    c.verify = text.splitlines()[-1] if text else f"ptaudit verify exited with {p.returncode}"
    if p.returncode == 0 and not a.head:
        c.verify += " (no head kept by the fleet: cannot tell a re-chained log)"
    if c.verified and a.complete and not partial:
        c.report_matches = _report_matches(rundir)
    return c


def _report_matches(rundir: Path) -> bool:
    stored = read_json(rundir / "report.json") if (rundir / "report.json").is_file() else None
    p = ptcli.call("report", str(rundir), "--format", "json", "--no-blobs", timeout=3600)
    if stored is None or p.returncode not in (0, 1):
        return False
    fresh = json.loads(p.stdout)
    return _strip(stored) == _strip(fresh)


def _strip(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in IGNORED_REPORT_KEYS}


def decide(rows: list[CheckedAttempt], attempts: dict[tuple[str, int], Attempt]) -> None:
    """Mark the counted attempt of each run and say why each other one is not counted."""
    latest_ok: dict[str, CheckedAttempt] = {}
    for c in rows:
        a = attempts[(c.key, c.attempt)]
        if c.partial:
            c.reason = f"partial: {c.partial}"
        elif not a.complete:
            c.reason = "did not complete" if a.state != "running" else "still running"
        elif not c.verified:
            c.reason = "run directory does not verify against the head kept by the fleet"
        elif not c.report_matches:
            c.reason = "report.json does not match its verified log"
        else:
            prev = latest_ok.get(c.key)
            if prev is None or c.attempt > prev.attempt:
                latest_ok[c.key] = c
    for c in latest_ok.values():
        c.counted = True
    for c in rows:
        if not c.counted and not c.reason:
            c.reason = f"superseded by attempt {latest_ok[c.key].attempt}"


def check_fleet(store: FleetStore, states: list[RunState], workers: int | None = None) -> list[CheckedAttempt]:
    pairs = [(st, a) for st in states for a in st.attempts]
    with ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2)) as pool:
        rows = list(pool.map(lambda p: check_attempt(store, *p), pairs))
    decide(rows, {(a.key, a.attempt): a for _, a in pairs})
    write_json(store.results / "attempts.json", [asdict(r) for r in rows])
    return rows
