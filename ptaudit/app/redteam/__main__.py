"""``make redteam``: every scenario under every policy; one table per policy, recall per
category, false positives, JSON. Exit 1 when a scenario fails under a policy it claims."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ptaudit.app import demo
from ptaudit.app.cli.output import err, out
from ptaudit.core.errors import PtauditError

from .render import print_policy, wide, write_json
from .runner import policy_ref
from .scenario import POLICIES
from .suite import run_suite


@click.command("redteam")
@click.option("--policy", "policies", multiple=True, help="Policy file or shipped name (repeat; default: all three).")
@click.option("--scenarios", type=click.Path(path_type=Path, file_okay=False), help="Scenario directory.")
@click.option("--only", multiple=True, help="Scenario name globs (repeat, or comma-separated).")
@click.option("--jobs", type=click.IntRange(1, 64), help="Runs at a time (default: cores + 1).")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), default=Path("redteam-results.json"),
              show_default=True, help="Where to write the results.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), help="Run directories (default ./runs/redteam-TS).")
@click.option("--keep-workspaces", is_flag=True, help="Keep each run's workspace (run directories are always kept).")
@click.option("--no-netns", is_flag=True, help="Do not enter a loopback-only network namespace.")
def command(policies: tuple[str, ...], scenarios: Path | None, only: tuple[str, ...], jobs: int | None, json_out: Path,
            workdir: Path | None, keep_workspaces: bool, no_netns: bool) -> None:
    """Run the red-team and benign scenarios under each policy."""
    if not no_netns:
        rc = demo.reexec_in_netns([sys.executable, "-m", "ptaudit.app.redteam", "--no-netns", *sys.argv[1:]])
        if rc is not None:
            raise SystemExit(rc)
    refs = [policy_ref(p) for p in (policies or POLICIES)]
    names = [g for o in only for g in o.split(",") if g]
    run = run_suite(refs, scenarios, names, jobs, workdir, keep_workspaces, con=err)
    con = wide(out)
    for pol, s in zip(refs, run.summaries, strict=True):
        print_policy(con, pol, run.by_policy(pol.label), s)
    write_json(json_out, refs, run.results, run.summaries)
    out.print(f"results: {json_out.resolve()}", markup=False)
    raise SystemExit(1 if any(s.claimed_failures for s in run.summaries) else 0)


def main() -> None:
    try:
        command.main(standalone_mode=False)
    except PtauditError as exc:
        for line in str(exc).splitlines():
            err.print(f"ptaudit: error: {line}", markup=False)
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(2) from None
    except click.exceptions.Abort:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
