from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click

from detectors import load_policy
from policies import shipped_path
from ptaudit.app import demo
from ptaudit.app.build import RunSpec
from ptaudit.app.live import Progress
from ptaudit.app.run import Orchestrator
from ptaudit.core.task import load_task
from ptaudit.core.world import load_world

from .output import err, out


@click.command("demo")
@click.option("--dir", "root", type=click.Path(path_type=Path, file_okay=False),
              help="Where to put the demo's task, workspace and run (default: ./runs/demo-TIMESTAMP).")
@click.option("--no-netns", is_flag=True, help="Do not isolate the demo in a loopback-only network namespace.")
@click.option("--train", "train_flag", is_flag=True,
              help="A real ML workload instead: pip installs, torch from a read-only mount, a tiny model trained on CPU.")
@click.option("--leak", is_flag=True, help="With --train: mix one test item into the training data (the audit fails).")
def command(root: Path | None, no_netns: bool, train_flag: bool, leak: bool) -> None:
    """Audit a bundled example agent against a simulated internet, offline (under two minutes)."""
    if not no_netns:
        rc = demo.reexec_in_netns([sys.executable, "-m", "ptaudit.app.cli.main", "demo", "--no-netns",
                                   *(["--dir", str(root)] if root else []), *(["--train"] if train_flag else []),
                                   *(["--leak"] if leak else [])])
        if rc is not None:
            raise SystemExit(rc)
    simnet = demo.simnet_module()
    root = (root or demo.default_root()).resolve()
    if train_flag:
        from ptaudit.app.demo import train

        paths = train.build(root, simnet)
        net = simnet.SimNet(repos=paths["repos"], packages=paths["packages"]).start()
        _audit(root, net, paths, train.agent_command(*(["--leak"] if leak else [])))
    paths = demo.build(root)
    net = simnet.SimNet(repos=demo.hub_repos(simnet, paths["test"], paths["train"])).start()
    # The operator's "real" key for the agent's own API: the sandbox only ever sees a placeholder.
    os.environ.setdefault(demo.API_KEY_ENV, "sk-ant-demo-" + secrets.token_hex(16))
    _audit(root, net, paths, demo.agent_command())


def _audit(root: Path, net, paths: dict[str, Path], command: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One audited run of ``command`` against the started simulated internet ``net``
    under the default policy; prints the text report and exits as every verb does."""
    try:
        world = root / "world.toml"
        world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
        policy = shipped_path("default")
        spec = RunSpec(task=load_task(paths["task"]), policy=load_policy(policy), policy_path=policy,
                       workspace=paths["workspace"], out=root / "run", world=load_world(world), command=command)
        outcome = Orchestrator(spec, progress=Progress(err, interval=5)).run()
    finally:
        net.stop()
    from ptaudit.app.report import build_report, render_text

    render_text(build_report(outcome.rundir), out)
    out.print(f"\nHTML report: {outcome.rundir / 'report.html'}", markup=False)
    out.print(f"run directory: {outcome.rundir}  (ptaudit verify / replay / report work on it)", markup=False)
    raise SystemExit(outcome.exit_code)  # as every verb: 0 pass, 1 fail, 3 incomplete
