from __future__ import annotations

from pathlib import Path

import click

from detectors import load_policy
from detectors.engine import scan_files_of, scan_path
from policies import resolve
from ptaudit.core.errors import InputError
from ptaudit.core.task import load_task

from .findings_out import ordered, print_json, table
from .output import out


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", "task_path", required=True, type=click.Path(path_type=Path), help="Task file naming the test sets.")
@click.option("--policy", "policy_path", default="default", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(path: Path, task_path: Path, policy_path: str, fmt: str) -> None:
    """Run the content detectors over a directory, archive or dataset file (e.g. a training
    set a reviewer suspects). Exit 1 when there are findings."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    task, policy = load_task(task_path), load_policy(resolve(policy_path))
    findings = _scan_with_progress(path, task, policy) if out.is_terminal and fmt == "text" else \
        scan_path(path, task, policy)
    if fmt == "json":
        print_json({"path": str(path), "findings": [f.model_dump() for f in ordered(findings)]})
    elif findings:
        out.print(table(findings, f"{len(findings)} finding(s) in {path}"))
    else:
        out.print(f"{path}: no findings", markup=False)
    raise SystemExit(1 if findings else 0)


def _scan_with_progress(path: Path, task: object, policy: object) -> list:  # type: ignore[type-arg]
    """A rich progress bar with bytes and bytes/s while scanning (terminals only)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    total = sum(f.stat().st_size for f in scan_files_of(path))
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=out, transient=True) as bar:
        t = bar.add_task(f"scanning {path}", total=total or None)
        return scan_path(path, task, policy, progress=lambda n: bar.advance(t, n))  # type: ignore[arg-type]
