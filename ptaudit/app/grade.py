"""Grading inside ``ptaudit run`` (task ``[grading] enabled = true``) and for ``ptaudit grade --run``.

In a run, grading happens after the agent has stopped and before the log is sealed, so
its record is part of the tamper-evident log: ``grade.start``, then ``grade.result`` (the
scores) or ``grade.error``; a significant memorization probe becomes a finding like any
detector's and counts in the verdict. ``grade.json`` is written after the seal, because
it names the final verdict and the sealed log head it stands on.

Grading never stops the seal: an error (a refused model directory, a missing backend, an
interrupt) is recorded and ``grade.json`` says so, with no score counted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from grading.grade import GRADE_JSON, Result, failed, finalize, grade_model, write_grade
from grading.progress import RichProgress
from policies.schema import Policy
from ptaudit.core.events import EventData, GradeError, GradeResult, GradeStart
from ptaudit.core.findings import Finding
from ptaudit.core.task import Task

Record = Callable[[EventData], Any]


def result_event(r: Result) -> GradeResult:
    d = r.doc
    return GradeResult(model_dir=d["model_dir"], backend=d["backend"], aggregate=d["aggregate"],
                       base_aggregate=d["base_aggregate"], tokens_per_s=d["tokens_per_s"],
                       benchmarks={k: {"n": v["n"], "accuracy": v["accuracy"], "base_accuracy": v["base_accuracy"]}
                                   for k, v in d["benchmarks"].items()},
                       probe_significant=sorted(k for k, v in (d["probe"] or {}).items() if v.get("significant")),
                       findings=[f["id"] for f in d["findings"]])


def grade_in_run(task: Task, policy: Policy, workspace: Path, record: Record, on_finding: Callable[[Finding], None],
                 console: Any = None) -> Result:
    """Grade the run's final model; every outcome is recorded, none raises."""
    model_dir = workspace / task.final_model
    record(GradeStart(model_dir=str(model_dir), backend=task.grading.backend,
                      reference_dir=str(task.base_model_dir) if task.base_model_dir else None))
    progress = RichProgress(console) if console is not None else None
    try:
        result = grade_model(model_dir, task, policy.grading, backend=task.grading.backend,
                             reference_dir=task.base_model_dir, progress=progress)
    except Exception as exc:  # noqa: BLE001 - recorded; the run must still seal
        result = failed(model_dir, task, str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        result = failed(model_dir, task, "grading interrupted")
    finally:
        if progress is not None:
            progress.stop()
    if result.doc["error"]:
        record(GradeError(error=result.doc["error"]))
    else:
        record(result_event(result))
    for f in result.findings:
        on_finding(f)
    return result


def write_run_grade(rundir: Path, result: Result, verdict: str | None, log_head: str | None,
                    on_fail: str, fail_on: str | None = None) -> dict[str, Any]:
    doc = finalize(result, verdict, log_head, on_fail, fail_on)
    write_grade(rundir / GRADE_JSON, doc, result.items)
    return doc


def run_audit(rundir: Path) -> tuple[str | None, str | None]:
    """(verdict, sealed log head) of a recorded run, from its report; the verdict is
    recomputed from the run directory, so an edited report.json changes nothing."""
    from .report import build_report

    rep = build_report(rundir)
    d = rep.data
    verdict = d["verdict"] if d["verify"]["ok"] and d["verify"]["sealed"] else "incomplete"
    return verdict, d["verify"]["head"]
