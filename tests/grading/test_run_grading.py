"""``ptaudit run`` grades the final model when the task asks: before the seal (recorded in
the log, the probe's finding counts in the verdict), grade.json after it, gated by the
verdict. Real runsc, mitmdump and recorder, in a loopback-only network namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptaudit.core.runlog import read_events
from tests.grading.conftest import ONE_THREAD, Models
from tests.netns import enter_loopback_netns, leave_netns
from tests.sandbox.conftest import needs_runsc
from tests.support import event_problems, run_ptaudit

pytestmark = [needs_runsc, pytest.mark.runsc, pytest.mark.netns]


@pytest.fixture
def netns() -> Iterator[None]:
    handle = enter_loopback_netns()
    try:
        yield
    finally:
        leave_netns(handle)


def _run(models: Models, tmp: Path, final: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    task = models.task_file(tmp / "task.toml", extra=f'base_model_dir = "{models.random}"\n')
    ws = tmp / "workspace"
    ws.mkdir()
    shutil.copytree(final, ws / "trained")
    out = tmp / "run"
    # The "agent" publishes its trained model where the task says the final model is.
    cmd = ["/usr/bin/python3", "-c", "import shutil; shutil.copytree('/workspace/trained', '/workspace/final_model')"]
    p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(task), "--policy", "default",
                        "--workspace", str(ws), "--out", str(out), "--", *cmd],
                       capture_output=True, text=True, timeout=600, env={**os.environ, **ONE_THREAD})
    return p, out


def test_clean_run_is_graded_and_counted(models: Models, tmp_path: Path, netns: None) -> None:
    p, run = _run(models, tmp_path, models.random)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((run / "grade.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert doc["audit"] == {"verdict": "pass", "log_head": manifest["log"]["head"], "on_fail": "base"}
    assert doc["reported"]["status"] == "counted" and doc["reported"]["aggregate"] == doc["aggregate"]
    assert doc["benchmarks"]["arith"]["base_source"] == "measured" and not doc["findings"]
    kinds = [e.kind for e in read_events(run / "events.jsonl")]
    assert kinds.index("grade.start") < kinds.index("grade.result") < kinds.index("run.verdict")
    assert json.loads((run / "report.json").read_text())["grade"]["reported"]["status"] == "counted"
    assert event_problems(run) == []  # grade.* events fit their typed models exactly
    assert run_ptaudit("verify", str(run)).returncode == 0


def test_memorized_model_fails_the_run_and_its_score_is_replaced(models: Models, tmp_path: Path, netns: None) -> None:
    p, run = _run(models, tmp_path, models.memorized)
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads((run / "grade.json").read_text())
    assert doc["benchmarks"]["arith"]["accuracy"] == 1.0
    assert doc["audit"]["verdict"] == "fail"
    # PostTrainBench's rule (default policy): the base model's measured score instead
    assert doc["reported"] == {"aggregate": doc["base_aggregate"], "status": "base_substituted"}
    assert doc["base_aggregate"] is not None and doc["base_aggregate"] < 0.2
    rep = json.loads((run / "report.json").read_text())
    assert rep["verdict"] == "fail"
    assert [f["rule"] for f in rep["findings"] if f["category"] == "test_set_leakage"] == ["grade.memorization"]
    ev = [e for e in read_events(run / "events.jsonl") if e.kind == "grade.result"]
    assert ev and ev[0].payload.probe_significant == ["arith"] and event_problems(run) == []
    text = run_ptaudit("report", str(run))
    assert "base_substituted" in text.stdout and "MEMORIZED" in text.stdout
    assert run_ptaudit("verify", str(run)).returncode == 0


def test_refused_final_model_is_recorded_and_never_counted(models: Models, tmp_path: Path, netns: None) -> None:
    bad = tmp_path / "bad-model"
    shutil.copytree(models.random, bad)
    (bad / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle: never loaded
    p, run = _run(models, tmp_path, bad)
    assert p.returncode == 0, p.stdout + p.stderr  # the audit itself passed
    doc = json.loads((run / "grade.json").read_text())
    assert doc["error"].startswith("model directory refused:") and "pytorch_model.bin" in doc["error"]
    assert doc["reported"] == {"aggregate": None, "status": "withheld"} and doc["benchmarks"] == {}
    errs = [e for e in read_events(run / "events.jsonl") if e.kind == "grade.error"]
    assert len(errs) == 1 and "pytorch_model.bin" in errs[0].payload.error
    assert "not graded: model directory refused" in run_ptaudit("report", str(run)).stdout
