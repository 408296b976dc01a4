"""Provenance graph build over a long run, beside plain replay of the same log.

A synthetic log of N events shaped like a data-preparation run inside the sandbox: a few
hundred processes that open workspace files (mostly reads, a tenth writes; 20,000
distinct paths), with clones, execs, fs.write events and a chain from an evaluation file
to the final model. Each measurement runs in its own process (peak RSS is per process):

- replay: ``detectors.engine.replay`` with a policy of one no-op rule (reading, parsing
  and typing every event: the cost every detector shares);
- provenance: the same with the provenance rule (graph build, flow attribution, taint
  search at the end).

    python bench/bench_provenance.py [N]      # default 1,000,000
"""

from __future__ import annotations

import json
import random
import resource
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


def make_log(rundir: Path, n: int) -> None:
    from ptaudit.core.rundir import RunDir
    from ptaudit.core.runlog import RunLogWriter

    rd = RunDir.create(rundir)
    w = RunLogWriter(rd.events_path, fsync=False)
    rnd = random.Random(7)
    procs = list(range(10, 410))
    w.append("proc", "proc.exec", {"pid": 2, "ppid": 1, "argv": ["bash", "agent.sh"]})
    for pid in procs:
        w.append("proc", "proc.clone", {"pid": 2, "child_pid": pid})
        w.append("proc", "proc.exec", {"pid": pid, "ppid": 2, "argv": ["python", f"step{pid}.py"]})
    w.append("proc", "proc.open", {"pid": 10, "path": "/workspace/eval/evaluate.py", "flags": 0, "write": False})
    i = 0
    while i < n:
        pid = rnd.choice(procs)
        path = f"/workspace/data/shard{rnd.randrange(20_000)}.jsonl"
        write = rnd.random() < 0.1
        w.append("proc", "proc.open", {"pid": pid, "path": path, "flags": 0o101 if write else 0, "write": write,
                                       "result": 3, "tid": pid, "comm": "python", "time_ns": i})
        if write and rnd.random() < 0.5:
            w.append("fs", "fs.write", {"path": path[len("/workspace/"):], "size": 100, "sha256": f"{i:064x}",
                                        "type": "jsonl"})
            i += 1
        i += 1
    w.append("proc", "proc.open", {"pid": 11, "path": "/workspace/final_model/model.safetensors", "flags": 0o101,
                                   "write": True})
    w.close()


def measure(rundir: Path, task: Path, rules: str) -> dict[str, float]:
    code = f"""
import json, resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
from detectors.engine import replay
from policies.schema import Policy
from ptaudit.core.task import load_task
pol = Policy.model_validate({{"version": 1, "name": "b", "rules": {rules}}})
t = time.perf_counter()
res = replay({str(rundir)!r}, pol, load_task({str(task)!r}))
dt = time.perf_counter() - t
print(json.dumps({{"s": dt, "events": res.events, "findings": len(res.findings),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--quick"]
    n = int(args[0]) if args else (100_000 if "--quick" in sys.argv else 1_000_000)
    with tempfile.TemporaryDirectory() as d:
        run, task = Path(d) / "run", Path(d) / "task.toml"
        task.write_text('name = "b"\nbase_model = "o/b"\nevaluation = ["eval/"]\n')
        t = time.perf_counter()
        make_log(run, n)
        build = time.perf_counter() - t
        noop = json.dumps([{"id": "b", "detector": "budget", "severity": "low"}])
        prov = json.dumps([{"id": "p", "detector": "provenance", "severity": "high"}])
        base, pv = measure(run, task, noop), measure(run, task, prov)
    t = Table(title=f"provenance over {base['events']:,} events (log written in {build:.1f} s; "
                    f"peak RSS of the writer {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    for c in ("", "seconds", "events/s", "peak RSS MB", "findings"):
        t.add_column(c, justify="right")
    for name, r in (("replay (one no-op rule)", base), ("replay + provenance", pv)):
        t.add_row(name, f"{r['s']:.1f}", f"{r['events'] / r['s']:,.0f}", f"{r['rss_mb']:.0f}", str(r["findings"]))
    t.add_row("ratio", f"{pv['s'] / base['s']:.2f}×", "", f"+{pv['rss_mb'] - base['rss_mb']:.0f} MB", "")
    Console().print(t)
    _results.record("provenance", f"graph build, {base['events']:,} events", pv["events"] / pv["s"], "events/s",
                    base["events"] / base["s"], "plain replay")
    _results.record("provenance", "peak RSS", pv["rss_mb"], "MB", base["rss_mb"], "plain replay", better="lower")
    _results.flush()


if __name__ == "__main__":
    main()
