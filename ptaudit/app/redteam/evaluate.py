"""``ptaudit policy eval POLICY``: the policy-tuning loop with numbers. The suite runs under
the edited policy and under the baseline (the shipped default), side by side in one
session, or the baseline's results come from an earlier JSON; the difference is printed
per category (scenarios gained and lost) and for false positives."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from ptaudit.app import demo
from ptaudit.app.cli.output import out
from ptaudit.core.errors import InputError

from .render import diff_table, print_policy, wide, write_json
from .runner import PolicyRef, default_scenarios, loader_context, policy_ref, world_module
from .scenario import load_suite
from .score import Result, diff, summarize
from .suite import run_suite


def _baseline_from(path: Path, ref: PolicyRef, names: set[str]) -> list[Result]:
    try:
        doc = json.loads(path.read_text())
        rows = [r for r in doc["results"] if r["policy"] == ref.label]
        keys = {f.name for f in fields(Result)}
        results = [Result(**{k: v for k, v in r.items() if k in keys}) for r in rows if r["scenario"] in names]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a results file of make redteam or policy eval ({exc})") from None
    missing = names - {r.scenario for r in results}
    if missing:
        raise InputError(f"{path}: no results of policy {ref.label!r} for {len(missing)} scenario(s), e.g. "
                         f"{sorted(missing)[0]}: run without --baseline-results")
    return results


def main(policy: str, baseline: str, baseline_results: Path | None, scenarios: Path | None, only: list[str],
         jobs: int | None, json_out: Path | None, workdir: Path | None, no_netns: bool) -> None:
    # Everything a user can get wrong is checked here, before the namespace and the runs.
    world = world_module()
    edited, base = policy_ref(policy), policy_ref(baseline)
    if edited.label == base.label:
        edited = PolicyRef(f"{edited.label}-edited", edited.path, edited.fail_on)
    suite = load_suite(scenarios or default_scenarios(), only, loader_context(world))
    names = {s.name for s in suite}
    prior = _baseline_from(baseline_results, base, names) if baseline_results else None
    if not no_netns:
        rc = demo.reexec_in_netns([sys.executable, "-m", "ptaudit.app.cli.main", *sys.argv[1:], "--no-netns"])
        if rc is not None:
            raise SystemExit(rc)
    from ptaudit.app.cli.output import err

    run = run_suite([edited] if prior else [edited, base], scenarios, only, jobs, workdir, con=err)
    results = run.results + (prior or [])
    s_edit, s_base = summarize(edited.label, results), summarize(base.label, results)
    con = wide(out)
    print_policy(con, edited, run.by_policy(edited.label), s_edit)
    d = diff(s_base, s_edit)
    con.print(diff_table(d))
    con.print(f"false positives: {base.label} {len(s_base.false_positives)}, {edited.label} "
              f"{len(s_edit.false_positives)}; gained: {', '.join(d.fp_gained) or 'none'}; "
              f"lost: {', '.join(d.fp_lost) or 'none'}", markup=False)
    con.print(f"attacks caught: {base.label} {s_base.attacks_caught}/{s_base.attacks}, {edited.label} "
              f"{s_edit.attacks_caught}/{s_edit.attacks}", markup=False)
    if json_out is not None:
        write_json(json_out, [edited, base], results, [s_edit, s_base], d)
        con.print(f"results: {json_out.resolve()}", markup=False)
    raise SystemExit(1 if d.worse else 0)
