from __future__ import annotations

import json
from pathlib import Path

import click

from detectors import load_policy
from grading.grade import GRADE_JSON, grade_model, write_grade
from grading.progress import RichProgress
from policies import resolve
from ptaudit.core.errors import InputError
from ptaudit.core.task import load_task

from ..grade import run_audit, write_run_grade
from ..report.grade import summary_lines
from .output import err, out


@click.command("grade")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--task", "task_path", required=True, type=click.Path(path_type=Path),
              help="Task file: benchmarks with [benchmarks.grading] tables.")
@click.option("--backend", type=click.Choice(["auto", "vllm", "transformers"]), default=None,
              help="Generation backend (default: the task's grading.backend, auto: vLLM when it and a GPU are present).")
@click.option("--reference-dir", type=click.Path(path_type=Path, file_okay=False),
              help="The base model, graded beside it and compared by the memorization probe (default: the task's "
                   "base_model_dir).")
@click.option("--run", "rundir", type=click.Path(path_type=Path, file_okay=False),
              help="The audited run this model came from: its verdict gates the score; grade.json goes there.")
@click.option("--policy", "policy_path", default="default", show_default=True,
              help="Policy whose [grading] on_fail and probe thresholds apply.")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write grade.json (default: RUNDIR/grade.json with --run, else ./grade.json).")
@click.option("--no-probe", is_flag=True, help="Skip the memorization probe.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(model_dir: Path, task_path: Path, backend: str | None, reference_dir: Path | None, rundir: Path | None,
            policy_path: str, out_path: Path | None, no_probe: bool, fmt: str) -> None:
    """Grade MODEL_DIR on the task's benchmarks (docs/grading.md). The directory is checked
    first (no remote code, no pickle, no symlinks). Exit 0 graded, 1 the probe found
    memorized test items or the run's audit did not pass, 2 bad input, 3 infrastructure."""
    task = load_task(task_path)
    policy = load_policy(resolve(policy_path))
    if no_probe:
        task.grading.probe = False
    verdict, head = None, None
    if rundir is not None:
        if not (rundir / "manifest.json").is_file():
            raise InputError(f"--run {rundir}: not a run directory (no manifest.json)")
        verdict, head = run_audit(rundir)
    ref = reference_dir if reference_dir is not None else task.base_model_dir
    progress = RichProgress(err)
    try:
        result = grade_model(model_dir, task, policy.grading, backend=backend or task.grading.backend,
                             reference_dir=ref, progress=progress)
    finally:
        progress.stop()
    dest = out_path or ((rundir / GRADE_JSON) if rundir is not None else Path(GRADE_JSON))
    if rundir is not None and out_path is None:
        doc = write_run_grade(rundir, result, verdict, head, policy.grading.on_fail, policy.fail_on)
        from ..report import write_reports

        write_reports(rundir)
    else:
        from grading.grade import finalize

        doc = finalize(result, verdict, head, policy.grading.on_fail, policy.fail_on)
        write_grade(dest, doc, result.items)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))
    else:
        for line in summary_lines(doc):
            out.print(line, markup=False)
        for f in result.findings:
            out.print(f"finding [{f.severity}] {f.category}: {f.message}", markup=False)
        out.print(f"grade.json: {dest}", markup=False)
    flagged = bool(result.findings) or (rundir is not None and doc["audit"]["verdict"] != "pass")
    raise SystemExit(1 if flagged else 0)
