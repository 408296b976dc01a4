"""Reports of a run: ``report.json`` (versioned, deterministic), a terminal summary, and a
self-contained ``report.html``. All three are computed from the run directory alone
(manifest, events.jsonl, findings.jsonl, blobs, grade.json); see docs/report.md.

    report = build_report(rundir, fail_on="high")
    render_json(report) / render_text(report, console) / render_html(report)
    write_reports(rundir, policy_fail_on)  # what the orchestrator calls at the end of a run
"""

from .har import export_har
from .html import render_html
from .model import REPORT_VERSION, Report, build_report, render_json, resolve_fail_on, verdict
from .text import render_text
from .write import write_report_files, write_reports, write_run_reports

__all__ = ["REPORT_VERSION", "Report", "build_report", "export_har", "render_html", "render_json", "render_text",
           "resolve_fail_on", "verdict", "write_report_files", "write_reports", "write_run_reports"]
