"""Replay speed on a long run: events/s through the detectors, before and after.

One log of EVENTS events (the mix of bench_leakage.py: net.request, proc.exec, proc.open,
fs.write in turn), replayed side by side in one run:

* before: each line parsed with ``json.loads`` and validated into an Event, every
  detector called with every event (the engine before kind routing);
* now: ``ptaudit.core.runlog.read_events`` (orjson, Events built without re-validating
  the seven keys the recorder wrote, checked by type) and the engine's routing by kind;

with the policy of bench_leakage.py (one leakage rule) and with the shipped default
policy (every detector). Also the parse alone (no detectors). Findings must be equal.

Goal (issue 19): >= 150,000 events/s on the 1M-event log.

    python bench/bench_replay.py [--events N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "detectors"), str(ROOT / "bench")]

import _results  # noqa: E402
from gsm_synth import make_split  # noqa: E402

from detectors import load_policy  # noqa: E402
from detectors.base import DetectorContext  # noqa: E402
from detectors.engine import DetectorSet  # noqa: E402
from policies import resolve  # noqa: E402
from policies.schema import Policy  # noqa: E402
from ptaudit.core.events import Event  # noqa: E402
from ptaudit.core.rundir import RunDir  # noqa: E402
from ptaudit.core.runlog import RunLogWriter, read_events  # noqa: E402
from ptaudit.core.task import load_task  # noqa: E402


def write_log(rd: RunDir, n: int) -> float:
    log = RunLogWriter(rd.events_path, fsync=False)
    t0 = time.perf_counter()
    for i in range(n):
        k = i % 4
        if k == 0:
            log.submit("net", "net.request", {"flow_id": f"f{i}", "method": "GET",
                                              "url": f"https://pypi.org/simple/pkg{i % 500}/", "host": "pypi.org"})
        elif k == 1:
            log.submit("proc", "proc.exec", {"argv": ["python", f"step{i}.py"], "pid": i, "ppid": 1})
        elif k == 2:
            log.submit("proc", "proc.open", {"path": f"/workspace/data/{i % 1000}.bin", "pid": i})
        else:
            log.submit("fs", "fs.write", {"path": f"out/{i % 1000}.txt", "size": 10, "sha256": "0" * 64})
    log.close()
    return time.perf_counter() - t0


def read_before(path: Path) -> Iterator[Event]:
    """The reader before this change: json.loads, then full validation of every line."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            yield Event.model_validate(json.loads(raw))


def replay_once(path: Path, pol: Policy, ctx: DetectorContext, before: bool) -> tuple[float, list[str]]:
    ds = DetectorSet.from_policy(pol, ctx, route=not before)
    t0 = time.perf_counter()
    for ev in (read_before if before else read_events)(path):
        ds.feed(ev)
    ds.finish()
    return time.perf_counter() - t0, [f.model_dump_json() for f in ds.findings]


def where_time_goes(path: Path, pol: Policy, ctx: DetectorContext, n: int) -> list[str]:
    """One more replay with each detector's on_event timed: µs per event of the log."""
    ds = DetectorSet.from_policy(pol, ctx)
    spent: dict[str, float] = {}
    for det in ds.detectors:
        def timed(event: Event, _f=det.on_event, _k=f"{det.name} ({det.rule.id})"):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return list(_f(event))
            finally:
                spent[_k] = spent.get(_k, 0.0) + time.perf_counter() - t
        det.on_event = timed  # type: ignore[method-assign]
    t0 = time.perf_counter()
    tp = 0.0
    it = read_events(path)
    while True:
        t = time.perf_counter()
        ev = next(it, None)
        if ev is not None:
            ev.payload  # noqa: B018 - timed with the parse
        tp += time.perf_counter() - t
        if ev is None:
            break
        ds.feed(ev)
    total = time.perf_counter() - t0
    rows = [f"  {'read + parse + payload validation':44s} {tp / n * 1e6:6.2f} us/event"]
    rows += [f"  {name:44s} {dt / n * 1e6:6.2f} us/event" for name, dt in sorted(spent.items(), key=lambda kv: -kv[1])]
    rows.append(f"  {'engine (routing, findings)':44s} {(total - tp - sum(spent.values())) / n * 1e6:6.2f} us/event")
    return rows


def parse_only(path: Path, before: bool) -> float:
    t0 = time.perf_counter()
    for _ in (read_before if before else read_events)(path):
        pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 events (make bench)")
    args = ap.parse_args()
    n = 100_000 if args.quick else args.events
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        rd = RunDir.create(tmp / "run")
        t_write = write_log(rd, n)
        (tmp / "task").mkdir()
        (tmp / "task" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_split(1300, 7)))
        (tmp / "task" / "task.toml").write_text(
            'name = "b"\nbase_model = "o/m"\n[[benchmarks]]\nname = "gsm8k"\ntest_set = "test.jsonl"\n'
            'fields = ["question", "answer"]\nhub_ids = ["openai/gsm8k"]\npypi_packages = ["gsm8k-data"]\n')
        task = load_task(tmp / "task" / "task.toml")
        policies = {
            "leakage rule (bench_leakage)": Policy.model_validate(
                {"version": 1, "name": "b", "rules": [{"id": "leak", "detector": "leakage", "severity": "high"}]}),
            "default policy (every detector)": load_policy(resolve("default")),
        }
        size = rd.events_path.stat().st_size
        print(f"log: {n:,} events, {size / 1e6:.0f} MB, written in {t_write:.1f} s; {os.cpu_count()} cores")
        rows = []
        tb, ta = parse_only(rd.events_path, True), parse_only(rd.events_path, False)
        rows.append(("parse only", tb, ta, True))
        for name, pol in policies.items():
            ctx = DetectorContext(task=task, policy=pol, blobs=rd.blobs, rundir=rd.path)
            replay_once(rd.events_path, pol, ctx, False)  # warm: test-set index, imports
            tb, fb = replay_once(rd.events_path, pol, ctx, True)
            ta, fa = replay_once(rd.events_path, pol, ctx, False)
            rows.append((name, tb, ta, fa == fb))
        print(f"\n{'replay':34s} {'before ev/s':>12s} {'now ev/s':>12s} {'speed-up':>9s}  findings equal")
        for name, tb, ta, same in rows:
            print(f"{name:34s} {n / tb:12,.0f} {n / ta:12,.0f} {tb / ta:8.2f}x  {'yes' if same else 'NO'}")
            _results.record("replay", f"{name}, {n:,} events", n / ta, "events/s", n / tb, "json + validation, no routing",
                            note="" if same else "FINDINGS DIFFER")
        print(f"\nwhere the time goes, default policy, {n:,} events (one more replay, each detector timed):")
        pol = policies["default policy (every detector)"]
        for line in where_time_goes(rd.events_path, pol, DetectorContext(task=task, policy=pol, blobs=rd.blobs,
                                                                             rundir=rd.path), n):
            print(line)
        best = n / min(r[2] for r in rows[1:])
        worst = n / max(r[2] for r in rows[1:])
        print(f"\ngoal >= 150,000 events/s: {worst:,.0f}-{best:,.0f} events/s "
              f"({'met' if worst >= 150_000 else 'MISSED'})")
        _results.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
