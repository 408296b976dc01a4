"""``ptaudit grade`` as an operator runs it: grade.json (the contract the fleet reads),
exit codes, the gate under a recorded run's verdict, and the scores table in the reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ptaudit.core.rundir import RunDir
from tests.grading.conftest import ONE_THREAD, Models
from tests.report.runs import make_audit_run
from tests.support import make_run, run_ptaudit


def grade(*args: str, timeout: float = 600):  # type: ignore[no-untyped-def]
    return run_ptaudit("grade", *args, env=ONE_THREAD, timeout=timeout)


CONTRACT = {"grade_version", "model_dir", "backend", "audit", "benchmarks", "aggregate", "reported", "tokens_per_s"}


def _contract(doc: dict) -> None:
    assert CONTRACT <= set(doc) and doc["grade_version"] == 1
    assert set(doc["audit"]) == {"verdict", "log_head", "on_fail"}
    for b in doc["benchmarks"].values():
        assert {"type", "n", "accuracy", "weight", "base_accuracy", "instruct_accuracy"} <= set(b)
    assert set(doc["reported"]) == {"aggregate", "status"}
    assert doc["reported"]["status"] in ("counted", "withheld", "base_substituted", "flagged")


def test_grade_memorized_model_against_its_base(models: Models, tmp_path: Path) -> None:
    task = models.task_file(tmp_path / "task.toml")
    out = tmp_path / "grade.json"
    p = grade(str(models.memorized), "--task", str(task), "--backend", "transformers",
                    "--reference-dir", str(models.random), "--out", str(out), timeout=600)
    assert p.returncode == 1, p.stdout + p.stderr  # the probe found memorized test items
    doc = json.loads(out.read_text())
    _contract(doc)
    b = doc["benchmarks"]["arith"]
    assert b["accuracy"] == 1.0 and b["base_accuracy"] == 0.0 and b["instruct_accuracy"] == 0.6 and b["weight"] == 1.0
    # no audit behind this score: the default policy substitutes the base model's
    assert doc["audit"] == {"verdict": None, "log_head": None, "on_fail": "base"}
    assert doc["reported"] == {"aggregate": 0.0, "status": "base_substituted"}
    assert doc["findings"][0]["category"] == "test_set_leakage"
    assert "MEMORIZED" in p.stdout and "finding [high] test_set_leakage" in p.stdout
    assert "Traceback" not in p.stderr
    # piped, the progress bar becomes one plain line per phase: items and tokens/s
    assert "grade: final arith: 12 items," in p.stderr and "grade: final probe arith: 24 items," in p.stderr
    assert "grade: base arith: 12 items," in p.stderr and "grade: base probe arith: 12 items," in p.stderr
    assert p.stderr.count("tok/s") >= 4
    rows = [json.loads(x) for x in (tmp_path / "grade-items.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["score"] == 1.0 for r in rows)


def test_grade_random_model_json_and_withhold_policy(models: Models, tmp_path: Path) -> None:
    task = models.task_file(tmp_path / "task.toml")
    p = grade(str(models.random), "--task", str(task), "--backend", "transformers", "--no-probe",
                    "--policy", "strict", "--format", "json", "--out", str(tmp_path / "g.json"), timeout=600)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    _contract(doc)
    assert doc["benchmarks"]["arith"]["accuracy"] <= 1 / 12 and doc["probe"] is None
    assert doc["reported"] == {"aggregate": None, "status": "withheld"}


def test_refused_model_directory_exits_2_with_one_line(models: Models, tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(models.random, d)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "auto_map": {"AutoModel": "x.Y"}}))
    p = grade(str(d), "--task", str(models.task_file(tmp_path / "task.toml")), timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"ptaudit: error: model directory refused: {d / 'config.json'}: "
                                             "auto_map/trust_remote_code: the model wants its own Python code run"]
    bad_task = tmp_path / "bad.toml"
    bad_task.write_text(models.task_file(tmp_path / "t2.toml").read_text().replace('type = "gsm8k"', 'type = "mmlu"'))
    p = grade(str(models.random), "--task", str(bad_task))
    assert p.returncode == 2 and "type" in p.stderr and "Traceback" not in p.stderr


def test_grade_a_recorded_run_gated_by_its_verdict(models: Models, tmp_path: Path) -> None:
    task = models.task_file(tmp_path / "task.toml", grading="probe = false")
    passed = make_run(tmp_path / "pass-run")
    p = grade(str(models.memorized), "--task", str(task), "--backend", "transformers",
                    "--run", str(passed), timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((passed / "grade.json").read_text())
    head = RunDir.open(passed).manifest().log.head
    assert doc["audit"]["verdict"] == "pass" and doc["audit"]["log_head"] == head
    assert doc["reported"] == {"aggregate": 1.0, "status": "counted"}
    rep = json.loads((passed / "report.json").read_text())
    assert rep["grade"]["reported"]["status"] == "counted"
    assert "Grade" in (passed / "report.html").read_text() and 'id="s-grade"' in (passed / "report.html").read_text()
    text = run_ptaudit("report", str(passed))
    assert "arith" in text.stdout and "100.0%" in text.stdout and "counted" in text.stdout

    # the same passing run, probed against the base: memorized items fail the gate
    probed = models.task_file(tmp_path / "probed.toml")
    p = grade(str(models.memorized), "--task", str(probed), "--backend", "transformers",
                    "--reference-dir", str(models.random), "--run", str(passed), timeout=600)
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads((passed / "grade.json").read_text())
    assert doc["verdict_sources"] == {"run": "pass", "probe": "fail"} and doc["audit"]["verdict"] == "fail"
    assert doc["reported"] == {"aggregate": 0.0, "status": "base_substituted"}

    failed = make_audit_run(tmp_path / "fail-run")
    p = grade(str(models.memorized), "--task", str(task), "--backend", "transformers",
                    "--run", str(failed), "--policy", "default", timeout=600)
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads((failed / "grade.json").read_text())
    assert doc["audit"]["verdict"] == "fail"
    # base_score 0.1 from the task stands in for the base model (no reference directory)
    assert doc["reported"] == {"aggregate": 0.1, "status": "base_substituted"}
