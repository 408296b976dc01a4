from __future__ import annotations

from pathlib import Path

import click

from detectors.engine import replay
from policies import resolve
from ptaudit.core.findings import verdict

from .findings_out import ordered, print_json, table
from .output import out


@click.command("replay")
@click.argument("rundir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--policy", "policy_path", required=True, help="Policy file (or shipped name) to re-run the detectors with.")
@click.option("--task", "task_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Task file (default: the one the run's manifest names, which must still exist).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(rundir: Path, policy_path: str, task_path: Path | None, fmt: str) -> None:
    """Re-run every detector over a recorded run; print the findings and what changed
    against the recorded ones (new / gone / changed severity). Exit 1 if any finding
    reaches the policy's fail_on."""
    from detectors import load_policy
    from ptaudit.core.task import load_task

    pol = load_policy(resolve(policy_path))
    res = replay(rundir, pol, load_task(task_path) if task_path else None)
    v = verdict((f.severity for f in res.findings), pol.fail_on)
    if fmt == "json":
        print_json({"verdict": v, "events": res.events, "findings": [f.model_dump() for f in ordered(res.findings)],
                    "diff": {"new": [f.id for f in res.diff.new], "gone": [f.id for f in res.diff.gone],
                             "changed": [{"id": b.id, "from": a.severity, "to": b.severity}
                                         for a, b in res.diff.changed]}})
    else:
        out.print(f"replayed {res.events} events with policy {pol.name!r}: {len(res.findings)} findings, verdict {v}")
        if res.findings:
            out.print(table(res.findings, "findings"))
        if res.diff.empty:
            out.print("no difference from the recorded findings")
        for f in res.diff.new:
            out.print(f"+ new      [{f.severity}] {f.rule}: {f.message}", markup=False)
        for f in res.diff.gone:
            out.print(f"- gone     [{f.severity}] {f.rule}: {f.message}", markup=False)
        for a, b in res.diff.changed:
            out.print(f"~ changed  {b.rule}: {a.severity} -> {b.severity}: {b.message}", markup=False)
    raise SystemExit(1 if v == "fail" else 0)
