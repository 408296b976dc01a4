"""``make soak``: N audited runs of a busy agent, each with one component SIGKILLed (or its
threads killed) at a random moment; every run directory must verify, nothing of any run
may survive, and no faulted run may read pass. Prints one line per run and the table.

    python -m tests.faults.soak [--runs N] [--seed S] [--duration SECONDS] [--out DIR]

Runs inside a loopback-only network namespace it creates, against the simulated internet
(tests/simnet), like the end-to-end tests. Exit 1 if any run breaks a promise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

TARGETS = ("mitmdump", "relay", "ptaudit", "trace", "fs", "detectors")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="soak", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=int(os.environ.get("SOAK_RUNS", "20")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", str(int(time.time())))))
    ap.add_argument("--duration", type=float, default=8.0, help="seconds the busy agent works")
    ap.add_argument("--out", type=Path, help="keep the run directories here (default: a temp dir, removed)")
    args = ap.parse_args(argv)

    from ptaudit.app import demo
    from tests import simnet
    from tests.e2e.conftest import REAL_KEY
    from tests.faults.checks import ROOT, check, driver_command, write_spec
    from tests.netns import enter_loopback_netns

    enter_loopback_netns()
    rng = random.Random(args.seed)
    base = args.out or Path(tempfile.mkdtemp(prefix="ptaudit-soak-"))
    base.mkdir(parents=True, exist_ok=True)
    paths = demo.build(base / "demo")
    net = simnet.SimNet(repos=demo.hub_repos(simnet, paths["test"], paths["train"])).start()
    world = base / "world.toml"
    world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
    results = []
    print(f"soak: {args.runs} runs, seed {args.seed}, busy agent {args.duration:.0f}s, in {base}", flush=True)
    try:
        for i in range(args.runs):
            target = rng.choice(TARGETS)
            at = round(rng.uniform(1.0, args.duration - 1.0), 2)
            d = base / f"run-{i:03d}"
            ws = d / "workspace"
            ws.mkdir(parents=True)
            shutil.copy(ROOT / "tests" / "faults" / "busy_agent.py", ws / "busy_agent.py")
            spec = write_spec(d / "spec.json", task=paths["task"], world=world, workspace=ws, out=d / "run",
                              command=["/usr/bin/python3", "-u", "/workspace/busy_agent.py", str(args.duration)],
                              fault={"target": target, "at": at})
            t0 = time.monotonic()
            p = subprocess.run(driver_command(spec), capture_output=True, text=True, timeout=600, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT), demo.API_KEY_ENV: REAL_KEY})
            (d / "driver.log").write_text(p.stdout + p.stderr)
            r = check(d / "run", Path(str(d / "run") + ".fault.json"))
            results.append((r, p.returncode, time.monotonic() - t0))
            bad = ("" if r.verified else " NOT VERIFIED") + (" SURVIVORS " + ",".join(r.survivors) if r.survivors else "") \
                + (" FALSE PASS" if r.false_pass else "") + (" not delivered" if not r.delivered else "")
            print(f"{i:3d} kill {target:8s} at {at:5.2f}s  exit {p.returncode:3d}  verify {r.verify_rc}"
                  f"{' (torn tail)' if r.torn_tail else ''}  verdict {r.verdict:10s} {(r.reason or '')[:70]}{bad}",
                  flush=True)
    finally:
        net.stop()
    n = len(results)
    delivered = [r for r, _, _ in results if r.delivered]
    table = {
        "runs": n,
        "kill points": dict(Counter(r.target for r, _, _ in results)),
        "faults delivered": len(delivered),
        "runs that verified": sum(r.verified for r, _, _ in results),
        "torn last lines": sum(r.torn_tail for r, _, _ in results),
        "survivors": sum(len(r.survivors) for r, _, _ in results) + sum(r.registry_left for r, _, _ in results),
        "false passes": sum(r.false_pass for r, _, _ in results),
        "verdicts": dict(Counter(r.verdict for r, _, _ in results)),
        "seconds per run (median)": round(sorted(t for _, _, t in results)[n // 2], 1) if n else 0,
        "seed": args.seed,
    }
    print("\n| " + " | ".join(table) + " |\n|" + "---|" * len(table))
    print("| " + " | ".join(json.dumps(v) if isinstance(v, dict) else str(v) for v in table.values()) + " |")
    if args.out is None:
        shutil.rmtree(base, ignore_errors=True)
    ok = table["runs that verified"] == n and table["survivors"] == 0 and table["false passes"] == 0 \
        and len(delivered) == n
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main(sys.argv[1:]))
