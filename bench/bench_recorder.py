"""Recorder throughput: events/s into a hash-chained, fdatasync'd events.jsonl.

Compares, in one run on this machine: one in-process producer (Recorder.emit), and one
and two producer *processes* over the Unix socket (RecorderClient), plus the same
in-process load with fsync off to show what durability costs.

    python bench/bench_recorder.py [EVENTS_PER_PRODUCER]
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

from ptaudit.core.runlog import RunLogWriter
from ptaudit.core.session import RunSession

ROOT = Path(__file__).resolve().parent.parent
PRODUCER = ROOT / "tests" / "core" / "producer.py"
DATA = {"method": "GET", "url": "https://huggingface.co/api/models/Qwen/Qwen3-1.7B-Base", "status": 200,
        "size": 123456, "sha256": "ab" * 32}


def in_process(n: int, fsync: bool) -> float:
    with tempfile.TemporaryDirectory() as d:
        w = RunLogWriter(Path(d) / "events.jsonl", fsync=fsync)
        t = time.perf_counter()
        for i in range(n):
            w.append("net", "net.response", {**DATA, "i": i})
        dt = time.perf_counter() - t
        w.close()
    return n / dt


def over_socket(n: int, producers: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        s = RunSession.create(Path(d) / "run")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, str(PRODUCER), str(s.socket_path), f"p{k}", str(n)],
                                  stdout=subprocess.PIPE, env=env) for k in range(producers)]
        for p in procs:
            p.communicate()
            assert p.returncode == 0
        dt = time.perf_counter() - t  # includes producer start-up (~0.1 s each): conservative
        s.close(0)
    return n * producers / dt


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rows = [
        ("in-process, fdatasync per record", in_process(n, True)),
        ("in-process, no fsync (not used; for comparison)", in_process(n, False)),
        ("1 producer process over the socket", over_socket(n, 1)),
        ("2 producer processes over the socket", over_socket(n, 2)),
    ]
    base = rows[0][1]
    t = Table(title=f"recorder throughput, {n} events per producer, {os.cpu_count()} cores")
    t.add_column("configuration")
    t.add_column("events/s", justify="right")
    t.add_column("vs in-process fsync", justify="right")
    for name, rate in rows:
        t.add_row(name, f"{rate:,.0f}", f"{rate / base:.2f}x")
    Console().print(t)


if __name__ == "__main__":
    main()
