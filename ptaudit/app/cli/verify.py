from __future__ import annotations

from pathlib import Path

import click

from ptaudit.core.verdict import incomplete_reasons
from ptaudit.core.verify import verify_run

from .output import out


@click.command("verify")
@click.argument("rundir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--head", "expected_head",
              help="Head hash recorded elsewhere at the end of the run, or its first 16+ hex digits "
                   "(detects a re-chained log).")
@click.option("--no-blobs", is_flag=True, help="Check the chain only, not the blob store.")
def command(rundir: Path, expected_head: str | None, no_blobs: bool) -> None:
    """Check the run log's hash chain, blob hashes and sealed files, and whether the audit
    completed. Exit 0 intact and complete, 1 naming the first bad seq or file, 3 intact but
    the audit incomplete (e.g. not sealed: ptaudit was killed)."""
    res = verify_run(rundir, expected_head=expected_head, check_blobs=not no_blobs)
    out.print(res.summary(rundir), markup=False)
    if not res.ok:
        raise SystemExit(1)
    reasons = incomplete_reasons(res.facts)
    if reasons:
        out.print(f"audit: incomplete: {reasons[0]}"
                  + (f" (+{len(reasons) - 1} more: ptaudit report)" if len(reasons) > 1 else ""), markup=False)
        raise SystemExit(3)
    out.print("audit: complete (the verdict then rests on the findings: ptaudit report)", markup=False)
    raise SystemExit(0)
