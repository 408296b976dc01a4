from __future__ import annotations

from pathlib import Path

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
    """Validate policy FILES (or shipped names: default, strict, open) and summarise their rules."""
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


@command.command("eval")
@click.argument("policy")
@click.option("--baseline", default="default", show_default=True, help="Policy to compare with (file or shipped name).")
@click.option("--baseline-results", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Reuse the baseline's results from an earlier JSON (make redteam, policy eval) instead of re-running it.")
@click.option("--scenarios", type=click.Path(path_type=Path, file_okay=False), help="Scenario directory (default: tests/scenarios).")
@click.option("--only", multiple=True, help="Scenario name globs (repeat, or comma-separated).")
@click.option("--jobs", type=click.IntRange(1, 64), help="Runs at a time (default: cores + 1).")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Write all results as JSON.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), help="Run directories (default ./runs/redteam-TS).")
@click.option("--no-netns", is_flag=True, help="Do not enter a loopback-only network namespace.")
def eval_(policy: str, baseline: str, baseline_results: Path | None, scenarios: Path | None, only: tuple[str, ...],
          jobs: int | None, json_out: Path | None, workdir: Path | None, no_netns: bool) -> None:
    """Run the scenario suite under POLICY and show what it gains and loses against the
    shipped default: recall per category and false positives. Needs a source checkout
    (tests/scenarios, tests/simnet). Exit 1 when POLICY loses recall or gains false positives."""
    from ptaudit.app.redteam import evaluate

    evaluate.main(policy, baseline, baseline_results, scenarios, [g for o in only for g in o.split(",") if g], jobs,
                  json_out, workdir, no_netns)
