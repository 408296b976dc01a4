"""Run directories recorded by earlier releases keep loading: verify, replay and report.

``tests/fixtures/runs/v1-demo`` is a ``ptaudit demo`` run recorded with the release of
2026-11-30 (log schema 1), before typed events; its task (with the test set) is beside it.
The files are kept byte for byte: a change that stops them loading breaks old audits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support import ROOT, run_ptaudit

FIXTURE = ROOT / "tests" / "fixtures" / "runs" / "v1-demo"
TASK = ROOT / "tests" / "fixtures" / "runs" / "v1-demo-task" / "task.toml"


def _copy(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    return run


def test_v1_run_verifies(tmp_path):
    p = run_ptaudit("verify", str(_copy(tmp_path)))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "183 records" in p.stdout


def test_v1_run_replays_to_its_recorded_findings(tmp_path):
    run = _copy(tmp_path)
    p = run_ptaudit("replay", str(run), "--policy", "default", "--task", str(TASK), "--format", "json")
    assert p.returncode == 1, p.stdout + p.stderr  # the demo agent cheats: verdict fail
    out = json.loads(p.stdout)
    recorded = {json.loads(line)["id"] for line in (FIXTURE / "findings.jsonl").read_text().splitlines() if line}
    assert recorded <= {f["id"] for f in out["findings"]}
    assert out["diff"]["gone"] == [] and out["diff"]["changed"] == []
    # rules added to the default policy since the fixture was recorded may find more, never less
    added_since = {"provenance.derived"}
    assert {f["rule"] for f in out["findings"] if f["id"] in out["diff"]["new"]} <= added_since


def test_v1_run_reports(tmp_path):
    run = _copy(tmp_path)
    p = run_ptaudit("report", str(run), "--format", "json")
    assert p.returncode == 1, p.stdout + p.stderr
    rep = json.loads(p.stdout)
    cats = sorted({f["category"] for f in rep["findings"]})
    assert cats == ["api_key_misuse", "checkpoint_download", "test_set_leakage", "unauthorized_api"]
    assert rep["verify"]["ok"] and rep["run"]["sealed"]
