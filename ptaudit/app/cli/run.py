from __future__ import annotations

from pathlib import Path

import click

from detectors import load_policy
from policies import resolve
from ptaudit.app.build import RunSpec
from ptaudit.app.live import Progress
from ptaudit.app.run import Orchestrator
from ptaudit.core.errors import InputError
from ptaudit.core.task import load_task
from ptaudit.core.units import parse_duration
from ptaudit.core.world import load_world

from .output import err, out


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--task", "task_path", required=True, type=click.Path(path_type=Path), help="Task file (TOML).")
@click.option("--policy", "policy_path", default="default", show_default=True, help="Policy file, or a shipped name.")
@click.option("--workspace", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Host directory the agent sees as /workspace.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="New run directory.")
@click.option("--world", "world_path", type=click.Path(path_type=Path), help="World file mapping hosts to local servers.")
@click.option("--time-limit", help='Wall-clock limit, e.g. "10h" (the smallest of this, task and policy wins).')
@click.option("--upstream-ca", type=click.Path(path_type=Path, dir_okay=False),
              help="Extra CA the proxy trusts for upstream TLS (a world's HTTPS servers).")
@click.option("--runsc", "runsc", type=click.Path(path_type=Path, dir_okay=False),
              help="runsc binary (default: $PTAUDIT_RUNSC, then the pinned release from make setup, then PATH).")
@click.option("--platform", type=click.Choice(["systrap", "ptrace", "kvm"]),
              help="gVisor platform (default: systrap where a probe shows it works, else ptrace).")
@click.option("--gpus", help='GPUs for the agent: "all" or indices "0,1" (implies gpu = true).')
@click.option("--nvproxy-driver-version", "nvproxy_driver_version",
              help="AT YOUR OWN RISK: the NVIDIA driver ABI nvproxy uses when runsc does not list the host's driver.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def command(task_path: Path, policy_path: str, workspace: Path, out_dir: Path, world_path: Path | None,
            time_limit: str | None, upstream_ca: Path | None, runsc: Path | None, platform: str | None,
            gpus: str | None, nvproxy_driver_version: str | None, command: tuple[str, ...]) -> None:
    """Run CMD as an audited agent: sandboxed, recorded, checked. Exit 0 pass, 1 fail, 2 bad input, 3 infrastructure."""
    try:
        limit = parse_duration(time_limit) if time_limit else None
    except ValueError as exc:
        raise InputError(f"--time-limit: {exc}") from None
    ppath = resolve(policy_path)
    spec = RunSpec(task=load_task(task_path), policy=load_policy(ppath), policy_path=ppath, workspace=workspace,
                   out=out_dir, command=list(command), world=load_world(world_path) if world_path else None,
                   time_limit=limit, upstream_ca=upstream_ca, runsc=runsc, platform=platform, gpus=gpus,
                   nvproxy_driver_version=nvproxy_driver_version)
    outcome = Orchestrator(spec, progress=Progress(err)).run()
    style = "bold red" if outcome.verdict == "fail" else "bold green"
    out.print(f"verdict: [{style}]{outcome.verdict}[/] ({len(outcome.findings)} findings, ended: {outcome.reason})")
    out.print(f"run directory: {outcome.rundir}", markup=False)
    out.print(f"log head: {outcome.head} (keep it to check later: ptaudit verify --head)", markup=False)
    raise SystemExit(outcome.exit_code)
