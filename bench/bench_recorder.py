"""Recorder throughput and ack latency: durable events/s into a hash-chained events.jsonl.

Side by side in one run, on this machine:

* fsync per record (the recorder before group commit: ``RunLogWriter(max_batch=1)``) and
  group commit, each with 1 and 2 producer *processes* over the Unix socket
  (RecorderClient; every event counted only once the recorder acked it as durable);
* in-process producers: one thread calling ``record()`` per event, 8 threads doing the
  same (their records share fdatasyncs), and ``record_many`` batches;
* the same socket load with fsync off (not used; shows what durability costs);
* ack latency (emit -> ack received, per event) with 2 producer processes paced at a
  total of 10,000 events/s, beside the latency of a bare ``write`` + ``fdatasync`` on the
  same file system measured meanwhile (the floor: no ack can come before one). fsync per
  record cannot sustain 10,000 events/s (see its rate), so its latency grows without bound.

Goals (issue 19): >= 50,000 durable events/s with 2 producer processes and >= 15x fsync
per record; p99 ack latency <= 20 ms at 10,000 events/s.

    python bench/bench_recorder.py [--events N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import _results  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from ptaudit.core.client import RecorderClient  # noqa: E402
from ptaudit.core.events import RunNote  # noqa: E402
from ptaudit.core.recorder import Recorder  # noqa: E402
from ptaudit.core.rundir import RunDir  # noqa: E402
from ptaudit.core.runlog import RunLogWriter  # noqa: E402
from ptaudit.core.verify import verify_run  # noqa: E402

DATA = {"method": "GET", "url": "https://huggingface.co/api/models/Qwen/Qwen3-1.7B-Base", "status": 200,
        "size": 123456, "sha256": "ab" * 32}


class _Rec:
    """A run directory with its writer and socket recorder (``max_batch=1``: fsync per record)."""

    def __init__(self, d: Path, fsync: bool = True, max_batch: int | None = None):
        self.rd = RunDir.create(d / "run")
        self.log = RunLogWriter(self.rd.events_path, fsync=fsync, max_batch=max_batch)
        self.sock = d / "r.sock"
        self.rec = Recorder(self.log, self.sock)
        self.rec.start()

    def close(self) -> tuple[int, int]:
        self.rec.stop()
        self.log.close()
        res = verify_run(self.rd.path, check_blobs=False)
        assert res.ok and not res.torn_tail, res.problems
        return self.log.next_seq, self.log.commits


# -- producer processes --------------------------------------------------------------------
def producer_main(sock: str, name: str, n: int, rate: float) -> None:
    """Run as a child: emit n events (paced at ``rate``/s if > 0) once told to start; print
    the wall time from the first emit to the last ack, and per-event ack latencies."""
    emitted: list[float] = []
    acked_at: list[tuple[int, float]] = []

    class Timed(RecorderClient):
        def _ack(self, upto: int) -> None:
            acked_at.append((upto, time.monotonic()))
            super()._ack(upto)

    client = Timed(sock, name)
    client.connected.wait(30)
    print("READY", flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    for i in range(n):
        if rate > 0:
            due = t0 + i / rate
            now = time.monotonic()
            if due > now + 0.0005:
                time.sleep(due - now)
            emitted.append(time.monotonic())
        client.emit("net", "net.response", {**DATA, "i": i})
    assert client.flush(300), "not acknowledged"
    t1 = time.monotonic()
    lat: list[float] = []
    if rate > 0:
        j = 0
        for i, t in enumerate(emitted):
            while acked_at[j][0] < i:
                j += 1
            lat.append(acked_at[j][1] - t)
    print(f"DONE {t0} {t1} {client.lost}", flush=True)
    print("LAT " + " ".join(f"{x:.6f}" for x in lat), flush=True)
    client.close()


def over_socket(n: int, producers: int, *, fsync: bool = True, max_batch: int | None = None,
                rate: float = 0.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        r = _Rec(Path(d), fsync, max_batch)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        procs = [subprocess.Popen([sys.executable, __file__, "--as-producer", str(r.sock), f"p{k}", str(n), str(rate)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                 for k in range(producers)]
        for p in procs:
            assert p.stdout and p.stdout.readline().strip() == "READY"
        for p in procs:
            assert p.stdin
            p.stdin.write("go\n")
            p.stdin.flush()
        starts, ends, lat = [], [], []
        for p in procs:
            out, _ = p.communicate(timeout=900)
            assert p.returncode == 0, out
            for line in out.splitlines():
                if line.startswith("DONE"):
                    _, a, b, lost = line.split()
                    assert lost == "0", f"producer lost {lost} events"
                    starts.append(float(a))
                    ends.append(float(b))
                elif line.startswith("LAT") and len(line) > 4:
                    lat += [float(x) for x in line[4:].split()]
        records, commits = r.close()
    total = n * producers
    out = {"rate": total / (max(ends) - min(starts)), "per_commit": records / max(commits, 1)}
    if lat:
        lat.sort()
        out.update(p50=lat[len(lat) // 2] * 1e3, p99=lat[int(len(lat) * 0.99)] * 1e3, max=lat[-1] * 1e3)
    return out


# -- in-process ---------------------------------------------------------------------------------
def in_process(n: int, threads: int, batch: int = 0, max_batch: int | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        rd = RunDir.create(Path(d) / "run")
        log = RunLogWriter(rd.events_path, max_batch=max_batch)
        rec = Recorder(log)
        per = n // threads

        def work() -> None:
            if batch:
                for i in range(0, per, batch):
                    rec.record_many([RunNote(note=f"n{i + j}") for j in range(batch)])
            else:
                for i in range(per):
                    rec.emit("net", "net.response", {**DATA, "i": i})

        ts = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        log.close()
        return {"rate": per * threads / dt, "per_commit": log.next_seq / max(log.commits, 1)}


def fdatasync_latency(seconds: float) -> dict[str, float]:
    """Latency of write + fdatasync of a 300-byte line, back to back, in a thread."""
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(Path(d) / "probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        lat: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.perf_counter()
            os.write(fd, b"x" * 299 + b"\n")
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
        os.close(fd)
    lat.sort()
    # Weighted by time: an event arriving at a random moment lands in a long fdatasync more
    # often than in a short one (a 300 ms stall delays 3,000 events at 10,000/s).
    total, acc, tw = sum(lat), 0.0, {}
    for x in lat:
        acc += x
        for q in (0.5, 0.99):
            if q not in tw and acc >= q * total:
                tw[q] = x
    return {"p50": lat[len(lat) // 2] * 1e3, "p99": lat[int(len(lat) * 0.99)] * 1e3, "max": lat[-1] * 1e3,
            "rate": len(lat) / seconds, "per_commit": 1.0, "tw50": tw[0.5] * 1e3, "tw99": tw[0.99] * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000, help="events per producer (group commit)")
    ap.add_argument("--quick", action="store_true", help="a small size for make bench")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.events
    base_n = max(n // 20, 1000)  # fsync per record is slow: fewer events, same rate measure
    latency_s = 3 if args.quick else 10
    rows = [
        ("2 processes, fsync per record (before)", over_socket(base_n, 2, max_batch=1)),
        ("1 process, fsync per record", over_socket(base_n, 1, max_batch=1)),
        ("1 process, group commit", over_socket(n, 1)),
        ("2 processes, group commit", over_socket(n, 2)),
        ("2 processes, no fsync (not used; comparison)", over_socket(n, 2, fsync=False)),
        ("in-process, 1 thread, record() per event", in_process(base_n, 1)),
        ("in-process, 8 threads, record() per event", in_process(base_n * 4, 8)),
        ("in-process, 1 thread, record_many of 256", in_process(n, 1, batch=256)),
    ]
    base = rows[0][1]["rate"]
    t = Table(title=f"recorder: durable events/s, {n:,} events per producer ({base_n:,} for fsync per record "
                    f"and record()), {os.cpu_count()} cores")
    t.add_column("configuration")
    t.add_column("events/s", justify="right")
    t.add_column("vs before", justify="right")
    t.add_column("records per fdatasync", justify="right")
    for name, r in rows:
        t.add_row(name, f"{r['rate']:,.0f}", f"{r['rate'] / base:.1f}x", f"{r['per_commit']:.1f}")
    Console().print(t)
    rate = 10_000
    per = rate // 2 * latency_s
    probe: dict[str, dict[str, float]] = {}
    t = threading.Thread(target=lambda: probe.update(f=fdatasync_latency(latency_s)))
    t.start()
    lat = [("group commit, 2 processes", over_socket(per, 2, rate=rate / 2))]
    t.join()
    lat.append(("bare write + fdatasync, meanwhile (the floor)", probe["f"]))
    t = Table(title=f"ack latency (emit -> ack) at {rate:,} events/s from 2 processes, {latency_s} s")
    for c in ("configuration", "events/s", "p50 ms", "p99 ms", "max ms", "records per fdatasync"):
        t.add_column(c, justify="left" if c == "configuration" else "right")
    for name, r in lat:
        t.add_row(name, f"{r['rate']:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['max']:.1f}",
                  f"{r['per_commit']:.1f}")
    Console().print(t)
    f = probe["f"]
    print(f"bare fdatasync weighted by time (what an event arriving at a random moment runs into): "
          f"p50 {f['tw50']:.2f} ms, p99 {f['tw99']:.2f} ms")
    _results.record("recorder", "2 producer processes, group commit", rows[3][1]["rate"], "events/s", base,
                    "fsync per record", goal=15, note=">= 50,000 events/s asked")
    _results.record("recorder", "1 producer process, group commit", rows[2][1]["rate"], "events/s",
                    rows[1][1]["rate"], "fsync per record")
    _results.record("recorder", "in-process record_many of 256", rows[7][1]["rate"], "events/s",
                    rows[5][1]["rate"], "record() per event")
    _results.record("recorder", "p99 ack latency at 10,000 events/s", lat[0][1]["p99"], "ms", f["tw99"],
                    "bare fdatasync p99 (time-weighted)", better="lower", note="<= 20 ms asked")
    _results.flush()
    g = rows[3][1]["rate"]
    print(f"goals: 2 processes group commit {g:,.0f}/s (>= 50,000: {'met' if g >= 50_000 else 'MISSED'}; "
          f"{g / base:.1f}x fsync per record, >= 15x: {'met' if g / base >= 15 else 'MISSED'}); "
          f"p99 at 10,000/s {lat[0][1]['p99']:.2f} ms (<= 20 ms: {'met' if lat[0][1]['p99'] <= 20 else 'MISSED'})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--as-producer":
        producer_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        main()
