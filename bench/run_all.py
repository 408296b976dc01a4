"""``make bench``: run every bench/bench_*.py, then print one table of the ratios each
measured side by side, and write it as JSON with the machine it ran on.

    python bench/run_all.py [--quick] [--only NAME ...] [--json FILE]
    python bench/run_all.py --compare OLD.json NEW.json

Each script runs in its own process with ``--quick`` when asked (scripts that have no
quick size ignore it) and reports through bench/_results.py. A script that fails is a row
saying so, and the exit status is 1. A ratio that misses the goal its issue set is shown
in red (a measurement, not a failure). docs/bench.md says how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
console = Console()


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    runsc = shutil.which("runsc")
    rv = subprocess.run([runsc, "--version"], capture_output=True, text=True).stdout.splitlines()[:1] if runsc else []
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "host": platform.node(),
            "cpu": cpu, "cores": os.cpu_count(), "mem_bytes": mem, "kernel": platform.release(),
            "python": platform.python_version(), "runsc": rv[0] if rv else None,
            "git": git.stdout.strip() or None, "load_avg_start": os.getloadavg()}


def run(quick: bool, only: list[str]) -> dict[str, Any]:
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(o in s.stem for o in only)]
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for script in scripts:
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
            console.rule(f"{script.name}")
            t = time.monotonic()
            env = {**os.environ, "PTAUDIT_BENCH_OUT": out.name, "PYTHONPATH": str(ROOT)}
            p = subprocess.run([sys.executable, str(script), *(["--quick"] if quick else [])], env=env, cwd=ROOT)
            took = time.monotonic() - t
            got = [json.loads(line) for line in Path(out.name).read_text().splitlines() if line.strip()]
            rows += got
            if p.returncode != 0:
                failures.append({"bench": script.stem, "returncode": p.returncode, "seconds": round(took, 1)})
            elif not got:
                failures.append({"bench": script.stem, "returncode": 0, "seconds": round(took, 1),
                                 "error": "reported no results"})
    return {"machine": {**machine(), "load_avg_end": os.getloadavg()}, "quick": quick, "rows": rows,
            "failures": failures}


def missed(row: dict[str, Any]) -> bool:
    r, g = row.get("ratio"), row.get("goal")
    if r is None or g is None:
        return False
    return r < g if row.get("better") == "higher" else r > g


def table(res: dict[str, Any], title: str) -> Table:
    t = Table(title=title, title_justify="left")
    for c in ("bench", "what", "value", "baseline (same run)", "ratio", "goal"):
        t.add_column(c, justify="right" if c in ("value", "ratio", "goal") else "left")
    for r in res["rows"]:
        base = f"{_num(r['baseline'])} {r['unit']} {r.get('baseline_name') or ''}".strip() if r["baseline"] is not None \
            else ""
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else ""
        goal = (f"{'≥' if r['better'] == 'higher' else '≤'} {r['goal']}×" if r.get("goal") is not None else "")
        style = "red" if missed(r) else ""
        t.add_row(r["bench"], r["what"], f"{_num(r['value'])} {r['unit']}", base, ratio, goal, style=style)
    for f in res["failures"]:
        t.add_row(f["bench"], "[red]FAILED[/]", f.get("error", f"exit {f['returncode']}"), "", "", "")
    return t


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def compare(old: dict[str, Any], new: dict[str, Any]) -> Table:
    t = Table(title="ratio, old run → new run (same bench, same baseline)", title_justify="left")
    for c in ("bench", "what", "old", "new", "change"):
        t.add_column(c)
    before = {(r["bench"], r["what"]): r for r in old["rows"]}
    for r in new["rows"]:
        o = before.get((r["bench"], r["what"]))
        if o is None or o.get("ratio") is None or r.get("ratio") is None:
            continue
        change = r["ratio"] / o["ratio"] if o["ratio"] else 0
        good = change >= 1 if r["better"] == "higher" else change <= 1
        t.add_row(r["bench"], r["what"], f"{o['ratio']:.2f}×", f"{r['ratio']:.2f}×",
                  f"[{'green' if good else 'red'}]{change:.2f}[/]")
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes, not an hour)")
    ap.add_argument("--only", nargs="*", default=[], help="only scripts whose name contains one of these")
    ap.add_argument("--json", type=Path, default=ROOT / "bench-results.json", help="where to write the results")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    a = ap.parse_args()
    if a.compare:
        old, new = (json.loads(p.read_text()) for p in a.compare)
        console.print(compare(old, new))
        return 0
    res = run(a.quick, a.only)
    a.json.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    m = res["machine"]
    console.print(table(res, f"ptaudit bench · {m['date']} · {m['cpu']} ×{m['cores']} · load {m['load_avg_start'][0]:.1f}"
                             f"→{m['load_avg_end'][0]:.1f} · git {m['git']}"))
    console.print(f"written: {a.json}")
    misses = [r for r in res["rows"] if missed(r)]
    if misses:
        console.print(f"{len(misses)} ratio(s) miss their goal (red above); see the bench's own notes")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
