"""``ptaudit fleet``: many audited runs from one plan (docs/fleet.md)."""

from __future__ import annotations

from pathlib import Path

import click

from ptaudit.core.errors import InfraError

from .output import err, out


def _fleet_dir(target: Path) -> Path:
    """A fleet directory, or a plan file whose ``out`` is one."""
    if target.is_file():
        from ptaudit.app.fleet import load_plan

        return load_plan(target).out
    return target


@click.group("fleet")
def command() -> None:
    """Many audited runs (agents × tasks × seeds) on Slurm, locally or on Kubernetes, and one leaderboard."""


@command.command("submit")
@click.argument("plan_path", metavar="PLAN.toml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="local: on this machine with bounded parallelism; slurm: one job per run via submitit.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Fleet directory (default: the plan's out).")
@click.option("--parallel", type=click.IntRange(1, 256), help="local: runs at once (default: the plan's).")
@click.option("--wait/--no-wait", default=None,
              help="Stay until every run is done, resubmitting failed ones (always for local).")
@click.option("--poll", default=10.0, show_default=True, type=click.FloatRange(0.2, 3600),
              help="Seconds between checks while waiting.")
def submit(plan_path: Path, executor: str, out_dir: Path | None, parallel: int | None, wait: bool | None,
           poll: float) -> None:
    """Submit every run of PLAN not yet done; resubmit failed or preempted ones while attempts are left."""
    from ptaudit.app.fleet import drive, load_plan, make_executor, open_fleet
    from ptaudit.app.fleet.status import progress_line, render_status

    plan = load_plan(plan_path)
    store, meta = open_fleet(plan, str(out_dir) if out_dir else None)
    if executor == "local":
        ex = make_executor("local", store, str(plan.source), parallel=parallel or plan.executor.local.parallel)
        wait = True
    else:
        _need_slurm()
        ex = make_executor("slurm", store, str(plan.source), config=plan.executor.slurm, fleet_name=plan.name,
                           time_limit_s=plan.time_limit)
    last = [""]

    def show(states):  # type: ignore[no-untyped-def]
        line = progress_line(meta, states)
        if line != last[0]:
            err.print(line, markup=False)
            last[0] = line

    try:
        states = drive(store, meta, ex, wait=bool(wait), poll_s=poll if executor != "local" else 0.5, on_update=show)
    except KeyboardInterrupt:
        err.print("ptaudit fleet: interrupted; waiting for running jobs to seal their logs")
        ex.close()
        raise
    render_status(out, meta, states)
    out.print(f"fleet directory: {store.root}", markup=False)
    if wait and any(s.status in ("failed", "error") for s in states):
        raise SystemExit(3)


def _need_slurm() -> None:
    import shutil

    if not shutil.which("sbatch"):
        raise InfraError("sbatch not found: run on a Slurm login node (Debian: apt-get install -y slurm-client)")


@command.command("status")
@click.argument("fleet", default=".", type=click.Path(path_type=Path, exists=True))
@click.option("--open", "only_open", is_flag=True, help="Only runs not done yet.")
def status(fleet: Path, only_open: bool) -> None:
    """Progress of a fleet (FLEET: its directory or its plan): each run's state, attempts, job and verdict."""
    from ptaudit.app.fleet import FleetStore, classify
    from ptaudit.app.fleet.state import executors_for
    from ptaudit.app.fleet.status import render_status

    store = FleetStore(_fleet_dir(fleet))
    meta = store.meta()
    render_status(out, meta, classify(store, meta, executors_for(store, meta)), only_open=only_open)


@command.command("collect")
@click.argument("fleet", default=".", type=click.Path(path_type=Path, exists=True))
@click.option("--output", type=click.Path(path_type=Path, file_okay=False),
              help="Where the tables and leaderboard.html go (default: FLEET/results).")
@click.option("--runs", "show_runs", is_flag=True, help="Also print every run on the terminal.")
@click.option("--workers", type=click.IntRange(1, 256), help="Run directories verified at once.")
@click.option("--on-fail", type=click.Choice(["withhold", "base", "flag"]),
              help="How runs whose audit did not pass count (default: the plan's on_fail).")
def collect(fleet: Path, output: Path | None, show_runs: bool, workers: int | None, on_fail: str | None) -> None:
    """Verify every run directory against the head its job kept, and build the tables: terminal,
    CSV, Parquet and leaderboard.html. Exit 0 only when every run is counted and passes."""
    from ptaudit.app.fleet import FleetStore, aggregate, check_fleet, classify
    from ptaudit.app.fleet.leaderboard_html import render_leaderboard_html
    from ptaudit.app.fleet.leaderboard_text import render_leaderboard, render_runs
    from ptaudit.app.fleet.state import executors_for

    store = FleetStore(_fleet_dir(fleet))
    meta = store.meta()
    states = classify(store, meta, executors_for(store, meta))
    dest = output or store.results
    checked = check_fleet(store, states, workers, out=dest)
    tables = aggregate(store, meta, states, checked, on_fail=on_fail, out=dest)
    html = dest / "leaderboard.html"
    html.write_text(render_leaderboard_html(tables, checked, meta.name, store.root, html))
    render_leaderboard(out, tables, f"fleet {meta.name}")
    if show_runs:
        render_runs(out, tables)
    counted = sum(1 for r in tables.runs if r["counted_attempt"] is not None)
    bad = sum(1 for c in checked if c.verified is False and c.state == "ended" and c.head)
    out.print(f"{counted}/{len(tables.runs)} runs counted; {sum(1 for c in checked if not c.counted)} attempts not "
              f"counted{f' ({bad} failed verification)' if bad else ''}", markup=False)
    out.print(f"tables: {dest}/{{runs,cells,leaderboard}}.{{csv,parquet}}", markup=False)
    out.print(f"leaderboard: {html}", markup=False)
    ok = counted == len(tables.runs) and all(r["verdict"] == "pass" for r in tables.runs)
    raise SystemExit(0 if ok else 1)


@command.command("k8s")
@click.argument("plan_path", metavar="PLAN.toml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--output", type=click.Path(path_type=Path, file_okay=False),
              help="Directory for the manifests (default: OUT/k8s).")
def k8s(plan_path: Path, output: Path | None) -> None:
    """Write Kubernetes manifests for PLAN: one Job per run (a privileged pod running ptaudit run,
    one GPU limit where the task needs it, the run directory on the fleet volume) and a NetworkPolicy."""
    from ptaudit.app.fleet import k8s as k8smod
    from ptaudit.app.fleet import load_plan

    plan = load_plan(plan_path)
    docs = k8smod.manifests(plan)
    assert plan.executor.k8s is not None
    version = k8smod.validate(docs, plan.executor.k8s.kubernetes_version)
    paths = k8smod.write(docs, output or plan.out / "k8s")
    out.print(f"{len(paths) - 1} Jobs and 1 NetworkPolicy in {paths[0].parent}", markup=False)
    out.print(f"validated against the Kubernetes {version} schemas" if version else
              "not validated: pip install kubernetes-validate to check them offline", markup=False)
    k = plan.executor.k8s
    out.print(f"next: copy {plan_path.resolve().parent} to {k.plan_dir}/ on claim {k.claim}, then "
              f"kubectl apply -f {paths[0].parent}", markup=False)


__all__ = ["command"]
