from __future__ import annotations

import click
from rich.table import Table

from ptaudit.app.doctor import run_checks

from .output import out

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@click.command("doctor")
@click.option("--cleanup", is_flag=True, help="Also remove sandboxes and relays left behind by killed runs.")
def command(cleanup: bool) -> None:
    """Check this machine for what audited runs need; print each fix. Exit 3 if something essential is missing."""
    if cleanup:
        from sandbox import cleanup_stale

        removed = cleanup_stale()
        out.print(f"cleanup: removed {len(removed)} stale sandbox(es)" + (f": {', '.join(removed)}" if removed else ""))
    checks = run_checks()
    t = Table("check", "status", "found", "fix")
    for c in checks:
        t.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.detail, c.fix)
    out.print(t)
    raise SystemExit(3 if any(c.status == "fail" for c in checks) else 0)
