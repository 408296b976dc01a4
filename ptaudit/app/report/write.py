"""Writing a run's reports into its run directory (what ``ptaudit run`` does at the end)."""

from __future__ import annotations

from pathlib import Path

from ptaudit.core.rundir import write_atomic

from .html import render_html
from .model import REPORT_HTML, REPORT_JSON, Report, build_report, render_json


def write_report_files(report: Report) -> None:
    """Write a built report as RUNDIR/report.json and RUNDIR/report.html."""
    write_atomic(report.rundir / REPORT_JSON, render_json(report))
    write_atomic(report.rundir / REPORT_HTML, render_html(report).encode())


def write_run_reports(rundir: Path, policy_fail_on: str | None = None, check_blobs: bool = True) -> Report:
    """Write RUNDIR/report.json and RUNDIR/report.html; returns the report (its verdict
    is the run's). Called once the run log is sealed and findings are written."""
    report = build_report(rundir, policy_fail_on, check_blobs=check_blobs)
    write_report_files(report)
    return report


def write_reports(rundir: Path, policy_fail_on: str | None = None, check_blobs: bool = True) -> tuple[Path, Path]:
    """As :func:`write_run_reports`; returns the two paths."""
    report = write_run_reports(rundir, policy_fail_on, check_blobs)
    return report.rundir / REPORT_JSON, report.rundir / REPORT_HTML
