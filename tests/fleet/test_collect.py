"""``fleet collect`` over run directories made by the real recorder and report code: only
complete attempts whose log verifies against the head the fleet kept, and whose report.json
matches that log, are counted; the tables (terminal, CSV, Parquet) match the reports; scores
follow the plan's on_fail policy."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.fleet.support import SCENARIO, WEIGHTS
from tests.support import run_ptaudit


def _collect(store: Any, out: Path, *args: str) -> Any:
    r = run_ptaudit("fleet", "collect", str(store.root), "--output", str(out), *args, env={"COLUMNS": "200"})
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r


def _expected(on_fail: str) -> tuple[dict[str, dict[str, Any]], dict[str, float | None]]:
    """What the scenario should give, worked out from SCENARIO independently of the code."""
    runs: dict[str, dict[str, Any]] = {}
    for (agent, task, seed), attempts in SCENARIO.items():
        kind, acc, opts = attempts[-1]
        counted = kind != "partial" and "tamper" not in opts
        verdict = {"pass": "pass", "fail": "fail", "lossy": "incomplete"}[kind] if counted else None
        graded = opts.get("graded", True) and opts.get("grade_head") != "other"
        score = None
        if counted and graded:
            score = acc if verdict == "pass" or on_fail == "flag" else (0.3 if on_fail == "base" else None)
        runs[f"{agent}/{task}/seed-{seed}"] = {"agent": agent, "task": task, "counted": counted,
                                               "verdict": verdict, "score": score}
    board: dict[str, float | None] = {}
    for agent in ("alpha", "beta", "gamma"):
        cells = {}
        for task in WEIGHTS:
            scores = [r["score"] for r in runs.values() if r["agent"] == agent and r["task"] == task
                      and r["score"] is not None]
            cells[task] = sum(scores) / len(scores) if scores else None
        board[agent] = (None if any(v is None for v in cells.values())
                        else sum(WEIGHTS[t] * v for t, v in cells.items()) / sum(WEIGHTS.values()))
    return runs, board


def test_only_verified_complete_attempts_count(scenario: Any, tmp_path: Path) -> None:
    _, store = scenario
    r = _collect(store, tmp_path)
    assert r.returncode == 1  # not every run counted and passed
    rows = {(a["key"], a["attempt"]): a for a in json.loads((tmp_path / "attempts.json").read_text())}
    assert len(rows) == sum(len(v) for v in SCENARIO.values())
    # the killed attempt: labelled partial beside its directory, never counted; its retry counts
    killed = rows[("gamma/t1/seed-1", 1)]
    assert not killed["counted"] and killed["reason"] == "partial: job killed (test)"
    assert (store.root / "runs/gamma/t1/seed-1/attempt-1.partial.json").is_file()
    assert rows[("gamma/t1/seed-1", 2)]["counted"]
    # the re-chained log passes a plain verify (manifest resealed) but not the head the fleet kept
    forged = rows[("gamma/t2/seed-0", 1)]
    assert not forged["counted"] and "does not verify against the head kept by the fleet" in forged["reason"]
    assert "rechained" in forged["verify"]
    assert run_ptaudit("verify", str(store.root / forged["rundir"])).returncode == 0
    # an edited report.json does not survive being recomputed from its verified log
    edited = rows[("gamma/t2/seed-1", 1)]
    assert edited["verified"] and not edited["counted"] and edited["reason"] == "report.json does not match its verified log"
    counted = {k for (k, _), a in rows.items() if a["counted"]}
    assert counted == {k for k, v in _expected("withhold")[0].items() if v["counted"]}
    assert "10/12 runs counted; 3 attempts not counted (1 failed verification)" in r.stdout


@pytest.mark.parametrize("on_fail", ["withhold", "base", "flag"])
def test_scores_follow_the_on_fail_policy(scenario: Any, tmp_path: Path, on_fail: str) -> None:
    _, store = scenario
    _collect(store, tmp_path, "--on-fail", on_fail)
    runs, board = _expected(on_fail)
    got_runs = {r["key"]: r for r in pq.read_table(tmp_path / "runs.parquet").to_pylist()}
    for key, exp in runs.items():
        assert got_runs[key]["verdict"] == exp["verdict"], key
        assert got_runs[key]["score"] == pytest.approx(exp["score"]) if exp["score"] is not None \
            else got_runs[key]["score"] is None, key
    got_board = {r["agent"]: r for r in pq.read_table(tmp_path / "leaderboard.parquet").to_pylist()}
    for agent, score in board.items():
        assert (got_board[agent]["score"] is None) if score is None else \
            got_board[agent]["score"] == pytest.approx(score), (agent, on_fail)
    # statuses name what happened to each score
    status = {k: r["score_status"] for k, r in got_runs.items()}
    assert status["gamma/t1/seed-0"] == "no_grade" and status["gamma/t2/seed-0"] == "not_counted"
    assert status["alpha/t1/seed-1"] == "grade_mismatch" and status["beta/t2/seed-0"] != "grade_mismatch"
    assert status["beta/t1/seed-0"] == {"withhold": "withheld", "base": "base_substituted", "flag": "flagged"}[on_fail]
    assert status["beta/t2/seed-1"] == status["beta/t1/seed-0"]  # lossy: not a pass either
    # leaderboard order: by score, agents without one last
    order = [r["agent"] for r in pq.read_table(tmp_path / "leaderboard.parquet").to_pylist()]
    assert order == sorted(board, key=lambda a: (board[a] is None, -(board[a] or 0)))


def test_tables_match_the_individual_reports(scenario: Any, tmp_path: Path) -> None:
    _, store = scenario
    r = _collect(store, tmp_path, "--runs")
    with open(tmp_path / "runs.csv") as fh:
        csv_rows = {row["key"]: row for row in csv.DictReader(fh)}
    parquet_rows = {row["key"]: row for row in pq.read_table(tmp_path / "runs.parquet").to_pylist()}
    assert csv_rows.keys() == parquet_rows.keys() == {f"{a}/{t}/seed-{s}" for a, t, s in SCENARIO}
    for key, row in parquet_rows.items():
        if row["counted_attempt"] is None:
            assert row["verdict"] is None and csv_rows[key]["verdict"] == ""
            continue
        rep = json.loads((store.root / row["rundir"] / "report.json").read_text())
        assert row["report_verdict"] == rep["verdict"] and row["run_id"] == rep["run_id"]
        assert row["lossy"] == rep["lossy"] and row["findings"] == rep["stats"]["findings"]
        for cat, n in rep["stats"]["findings_by_category"].items():
            assert row[cat] == n and int(csv_rows[key][cat]) == n, (key, cat)
        assert sum(row[c] for c in rep["stats"]["findings_by_category"]) == rep["stats"]["findings"]
    # per-agent category totals are the sums over that agent's counted runs
    board = {a["agent"]: a for a in pq.read_table(tmp_path / "leaderboard.parquet").to_pylist()}
    assert board["beta"]["checkpoint_download"] == sum(
        r["checkpoint_download"] for r in parquet_rows.values() if r["agent"] == "beta" and r["counted_attempt"])
    # the terminal shows the same: every agent, every run with its verdict
    for agent in ("alpha", "beta", "gamma"):
        assert agent in r.stdout
    assert "beta/t2/seed-1" in r.stdout and "incomplete" in r.stdout


def test_status_shows_each_run(scenario: Any) -> None:
    plan, store = scenario
    r = run_ptaudit("fleet", "status", str(plan), env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "fleet scenario: 12 runs (12 done)" in r.stdout
    assert "gamma/t1/seed-1" in r.stdout and "2/3" in r.stdout  # two attempts of three used
