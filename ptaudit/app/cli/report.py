from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from ptaudit.app.report import build_report, render_html, render_json, render_text
from ptaudit.core.findings import SEVERITIES
from ptaudit.core.rundir import write_atomic
from ptaudit.core.verdict import EXIT_CODES

from .output import err, out


@click.command("report")
@click.argument("rundir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html", "har"]), default="text", show_default=True,
              help="text: summary for people; json: report.json (stable, versioned); html: self-contained page; "
                   "har: the flows as HAR 1.2 for browser and proxy tools.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to FILE instead of standard output.")
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Severity that fails the run when the log does not record one (default: high).")
@click.option("--no-blobs", is_flag=True, help="Verify the log's chain only, not every blob's hash (faster).")
def command(rundir: Path, fmt: str, output: Path | None, fail_on: str | None, no_blobs: bool) -> None:
    """Summarise a run: verdict, findings with evidence, flows, files, processes, resources.
    Exit 0 when the verdict is pass, 1 when it is fail, 3 when the audit is incomplete."""
    report = build_report(rundir, fail_on, check_blobs=not no_blobs)
    verdict = report.data["verdict"]
    if fmt == "har":
        import json

        from ptaudit.app.report.har import export_har

        reason = report.data.get("verdict_reason")
        comment = f"ptaudit verdict: {verdict}" + (f": {reason}" if reason else "")
        data = json.dumps(export_har(rundir, comment=comment), indent=1, sort_keys=True).encode() + b"\n"
    elif fmt == "json":
        data = render_json(report)
    elif fmt == "html":
        data = render_html(report, out_dir=(output.resolve().parent if output else None)).encode()
    elif output is not None:
        with open(output, "w", encoding="utf-8") as fh:
            render_text(report, Console(file=fh, width=120, no_color=True, highlight=False, soft_wrap=True))
        data = None
    else:
        render_text(report, out)
        data = None
    if data is not None:
        if output is not None:
            write_atomic(output, data)
        else:
            click.echo(data.decode(), nl=False)
    if output is not None:
        out.print(f"{fmt} report written to {output}", markup=False)
    if verdict == "incomplete" and (fmt != "text" or output is not None):
        # Whatever the format, the reason reaches the operator first-hand too.
        err.print(f"ptaudit: verdict incomplete: {report.data.get('verdict_reason')}", markup=False)
    raise SystemExit(EXIT_CODES.get(verdict, 3))
