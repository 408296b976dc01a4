"""``fleet collect``, first half: check every attempt's run directory and decide what counts.

For each attempt the fleet recorded, in worker processes (one per core):
  * ``verify`` (what ``ptaudit verify RUNDIR --head HEAD`` runs) with the head the job kept
    at its end, outside the run directory: a re-chained, edited or truncated log fails here;
  * for a completed attempt whose log verifies, report.json is computed again from the
    verified log (what ``ptaudit report --format json`` prints) and compared with the
    stored one (all but ``grade``, which grading may add later, and ``verify``): an edited
    report fails here.
An attempt is *counted* only if it completed (not interrupted, not partial), verifies
against its kept head, its report matches its log, and it is the run's latest such
attempt. Everything else is listed with the reason it is not counted, never dropped.
The result, one row per attempt, is ``results/attempts.json``: what the aggregation reads
alongside the counted run directories' report.json and grade.json files.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

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
    label = read_json(store.partial_label(a.key, a.attempt))
    partial = str(label.get("reason") or "did not complete") if isinstance(label, dict) else None
    return CheckedAttempt(a.key, st.run.agent, st.run.task, st.run.seed, a.attempt, a.rundir, a.state, a.job_id,
                          a.exit_code, a.end_reason, a.head, partial, False, "", None)


def _check_dir(rundir: str, head: str | None, want_report: bool) -> tuple[bool, str, bool | None]:
    """In a worker process: (verified against head, verify's summary, report matches log)."""
    from ptaudit.core.errors import PtauditError
    from ptaudit.core.verify import verify_run

    p = Path(rundir)
    if not (p / "manifest.json").is_file():
        return False, "no run directory (the job stopped before ptaudit created it)", None
    try:
        res = verify_run(p, expected_head=head)
    except PtauditError as exc:
        return False, str(exc).splitlines()[0], None
    summary = res.summary(p)
    if res.ok and not head:
        summary += " (no head kept by the fleet: cannot tell a re-chained log)"
    verified = res.ok and bool(head)
    matches = _report_matches(p) if verified and want_report else None
    return verified, summary, matches


def _report_matches(rundir: Path) -> bool:
    """report.json recomputed from the verified log equals the stored one (but grade, verify)."""
    from ptaudit.app.report import build_report, render_json

    stored = read_json(rundir / "report.json") if (rundir / "report.json").is_file() else None
    if not isinstance(stored, dict):
        return False
    fresh = json.loads(render_json(build_report(rundir, check_blobs=False)))
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


def check_fleet(store: FleetStore, states: list[RunState], workers: int | None = None,
                out: Path | None = None) -> list[CheckedAttempt]:
    pairs = [(st, a) for st in states for a in st.attempts]
    rows = [check_attempt(store, st, a) for st, a in pairs]
    jobs = [(str(store.root / a.rundir), a.head, a.complete and r.partial is None) for (_, a), r in zip(pairs, rows, strict=True)]
    n = min(len(jobs), workers or os.cpu_count() or 2)
    if n > 1:
        with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_check_dir, *zip(*jobs, strict=True), chunksize=4))
    else:
        results = [_check_dir(*j) for j in jobs]
    for r, (verified, summary, matches) in zip(rows, results, strict=True):
        r.verified, r.verify, r.report_matches = verified, summary, matches
    decide(rows, {(a.key, a.attempt): a for _, a in pairs})
    write_json((out or store.results) / "attempts.json", [asdict(r) for r in rows])
    return rows
