from __future__ import annotations

from pathlib import Path

import click

from ptaudit.core.verify import verify_run

from .output import out


@click.command("verify")
@click.argument("rundir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--head", "expected_head", help="Head hash recorded elsewhere at the end of the run (detects a re-chained log).")
@click.option("--no-blobs", is_flag=True, help="Check the chain only, not the blob store.")
def command(rundir: Path, expected_head: str | None, no_blobs: bool) -> None:
    """Check the run log's hash chain and blob hashes. Exit 0 if intact, 1 naming the first bad seq."""
    res = verify_run(rundir, expected_head=expected_head, check_blobs=not no_blobs)
    out.print(res.summary(rundir), markup=False)
    raise SystemExit(0 if res.ok else 1)
