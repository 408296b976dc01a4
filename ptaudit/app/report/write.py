"""Writing a run's reports into its run directory (what ``ptaudit run`` does at the end)."""

from __future__ import annotations

from pathlib import Path

from ptaudit.core.rundir import write_atomic

from .html import render_html
from .model import REPORT_HTML, REPORT_JSON, build_report, render_json


def write_reports(rundir: Path, policy_fail_on: str | None = None, check_blobs: bool = True) -> tuple[Path, Path]:
    """Write RUNDIR/report.json and RUNDIR/report.html; returns their paths. Called once
    the run log is sealed and findings are written."""
    report = build_report(rundir, policy_fail_on, check_blobs=check_blobs)
    jp, hp = report.rundir / REPORT_JSON, report.rundir / REPORT_HTML
    write_atomic(jp, render_json(report))
    write_atomic(hp, render_html(report).encode())
    return jp, hp
