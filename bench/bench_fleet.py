"""What a fleet adds to each audited run: the same N trivial runs (agent ``/usr/bin/true``)
side by side, one at a time, (a) as plain ``ptaudit run`` commands, (b) through
``fleet submit --executor local --parallel 1``, (c) through a real one-node Slurm cluster
(tests/fleet/slurmcluster.py; each job takes both CPUs, so jobs run one at a time too).
The difference per run is the fleet's overhead: job start (sbatch, scheduling, srun, the
job's Python), plan loading, a fresh workspace, the records.

Runs in a fresh loopback-only network namespace (re-executes itself under ``unshare``).

    python bench/bench_fleet.py [N] [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

NETNS = "PTAUDIT_BENCH_NETNS"


def cli(*args: str, env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", *args], capture_output=True, text=True,
                       env=env, check=False)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"ptaudit {' '.join(args[:2])} failed ({p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return dt


def main(n: int) -> None:
    from tests.fleet.slurmcluster import SlurmCluster, addrconfig_address
    from tests.fleet.support import demo_inputs, plan_text

    addrconfig_address()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    inputs = demo_inputs(tmp / "inputs")
    from ptaudit.app import demo

    env = {**os.environ, "PYTHONPATH": str(ROOT), demo.API_KEY_ENV: "sk-ant-bench-0123456789"}

    direct = []
    for i in range(n):
        ws = tmp / "direct" / f"ws{i}"
        ws.mkdir(parents=True)
        direct.append(cli("run", "--task", str(inputs["task"]), "--workspace", str(ws), "--out",
                          str(tmp / "direct" / f"run{i}"), "--", "/usr/bin/true", env=env))

    def plan(name: str, tail: str) -> Path:
        p = tmp / name / "plan.toml"
        p.parent.mkdir()
        p.write_text(plan_text(name=name, agents=[{"name": "noop", "command": ["/usr/bin/true"]}],
                               tasks=[{"name": "t", "file": str(inputs["task"])}], seeds=list(range(n)),
                               tail=tail))
        return p

    local = cli("fleet", "submit", str(plan("local", "[executor.local]\nparallel = 1\n")), "--executor", "local",
                env=env)
    with SlurmCluster(tmp / "slurm-cluster", gpus=0, cpus=2) as cluster:
        slurm = cli("fleet", "submit", str(plan("slurm", '[executor.slurm]\npartition = "ci"\ncpus_per_task = 2\n')),
                    "--executor", "slurm", "--wait", "--poll", "0.5", env={**env, **cluster.env})
        start = cluster.start_s or 0.0

    base = sum(direct) / n
    t = Table(title=f"{n} audited runs of /usr/bin/true, one at a time (this machine, one sitting)")
    for col in ("how", "total s", "per run s", "vs plain ptaudit run"):
        t.add_column(col, justify="right" if col != "how" else "left")
    t.add_row("plain ptaudit run", f"{sum(direct):.1f}", f"{base:.2f}", "1.00×")
    t.add_row("fleet, local executor", f"{local:.1f}", f"{local / n:.2f}", f"{local / n / base:.2f}×")
    t.add_row("fleet, Slurm (submitit)", f"{slurm:.1f}", f"{slurm / n:.2f}", f"{slurm / n / base:.2f}×")
    Console().print(t)
    print(f"one-node Slurm cluster: up in {start:.2f} s (munged, slurmctld, slurmd to an idle node)")
    for how, total in (("local executor", local), ("Slurm (submitit)", slurm)):
        _results.record("fleet", f"time per trivial audited run, fleet {how}", total / n, "s", base,
                        "plain ptaudit run", better="lower", note=f"{n} runs one at a time")
    _results.record("fleet", "one-node Slurm cluster start", start, "s", note="munged, slurmctld, slurmd to idle")
    _results.flush()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    count = int(args[0]) if args else (2 if "--quick" in sys.argv else 4)
    if not os.environ.get(NETNS):
        script = 'ip link set lo up && exec "$@"'
        raise SystemExit(subprocess.run(["unshare", "--net", "--", "sh", "-c", script, "sh", sys.executable,
                                         *sys.argv], env={**os.environ, NETNS: "1"}, check=False).returncode)
    main(count)
