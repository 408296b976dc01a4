from __future__ import annotations

import click
from rich.table import Table

from detectors import load_policy
from policies import resolve
from ptaudit.core.errors import PtauditError

from .output import err, out


@click.group("policy")
def command() -> None:
    """Work with policy files."""


@command.command("check")
@click.argument("files", nargs=-1, required=True)
def check(files: tuple[str, ...]) -> None:
    """Validate policy FILES (or shipped names: default, strict) and summarise their rules."""
    failed = False
    for f in files:
        path = resolve(f)
        try:
            pol = load_policy(path)
        except PtauditError as exc:
            failed = True
            for line in str(exc).splitlines():
                err.print(f"ptaudit: error: {line}", markup=False)
            continue
        n = pol.network
        out.print(f"{path}: OK: policy {pol.name!r} v{pol.version}, fail_on={pol.fail_on}, "
                  f"{len(pol.enabled_rules())}/{len(pol.rules)} rules enabled, network default-{n.default} "
                  f"({len(n.allow_hosts)} allowed, {len(n.deny_hosts)} denied host patterns)", markup=False)
        t = Table("rule", "detector", "severity", "action", "exceptions", "description", title=None)
        for r in pol.rules:
            t.add_row(r.id + ("" if r.enabled else " (disabled)"), r.detector, r.severity, r.action,
                      str(len(r.exceptions)), r.description)
        if pol.rules:
            out.print(t)
    raise SystemExit(2 if failed else 0)
