from __future__ import annotations

from pathlib import Path

import click

from detectors.engine import replay
from policies import resolve
from ptaudit.core.verdict import decide
from ptaudit.core.verify import verify_run

from .findings_out import ordered, print_json, table
from .output import err, out


@click.command("replay")
@click.argument("rundir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--policy", "policy_path", required=True, help="Policy file (or shipped name) to re-run the detectors with.")
@click.option("--task", "task_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Task file (default: the one the run's manifest names, which must still exist).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(rundir: Path, policy_path: str, task_path: Path | None, fmt: str) -> None:
    """Verify a recorded run, then re-run every detector over it; print the findings and
    what changed against the recorded ones (new / gone / changed severity). Exit 0 pass,
    1 when a finding reaches the policy's fail_on, 3 when the audit is incomplete (a log
    that does not verify is never replayed into a verdict)."""
    from detectors import load_policy
    from ptaudit.core.task import load_task

    pol = load_policy(resolve(policy_path))
    vr = verify_run(rundir)
    facts = vr.facts
    facts.accept_lossy = pol.monitors.accept_lossy  # the policy under review decides
    if not vr.ok:
        v = decide([], pol.fail_on, facts)
        if fmt == "json":
            print_json({"verdict": v.verdict, "verdict_reason": v.reason, "audit": v.as_dict(), "events": None,
                        "findings": [], "diff": None})
        else:
            out.print(f"verdict incomplete: {v.reason}", markup=False)
            out.print("not replayed: findings from a log that does not verify cannot be trusted "
                      "(ptaudit verify names the problem)", markup=False)
        raise SystemExit(v.exit_code)
    res = replay(rundir, pol, load_task(task_path) if task_path else None)
    v = decide(res.findings, pol.fail_on, facts)
    if fmt == "json":
        print_json({"verdict": v.verdict, "verdict_reason": v.reason, "audit": v.as_dict(), "events": res.events,
                    "findings": [f.model_dump() for f in ordered(res.findings)],
                    "diff": {"new": [f.id for f in res.diff.new], "gone": [f.id for f in res.diff.gone],
                             "changed": [{"id": b.id, "from": a.severity, "to": b.severity}
                                         for a, b in res.diff.changed]}})
    else:
        if v.verdict == "incomplete":
            out.print(f"verdict incomplete: {v.reason}", markup=False)
        out.print(f"replayed {res.events} events with policy {pol.name!r}: {len(res.findings)} findings, "
                  f"verdict {v.verdict}")
        for r in v.reasons[1 if v.verdict == "incomplete" else 0:]:
            out.print(f"audit incomplete: {r}", markup=False)
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
    if v.verdict == "incomplete" and fmt == "json":
        err.print(f"ptaudit: verdict incomplete: {v.reason}", markup=False)
    raise SystemExit(v.exit_code)
