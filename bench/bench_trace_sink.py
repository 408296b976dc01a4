"""Trace sink decode rate: frames/s from a fake runsc into events, before and after.

A separate process plays runsc: it connects to the sink's SOCK_SEQPACKET socket, does the
handshake and sends N pre-built frames as fast as the socket takes them (blocking sends,
so nothing is dropped by the kernel: this measures the sink, not runsc's retry policy).
The rate is N over the time from the first frame to the last one decoded (and, with a
session, recorded durably). Frame mixes:

* workspace opens: ``syscall/openat`` of /workspace files, every one recorded (proc.open);
* /usr opens: reads under /usr, decoded and counted but not recorded (the bulk of an
  ``import torch``);
* mixed: 4 in 5 /usr opens, the rest workspace opens, with an exec/clone/exit every 500.

Sinks: ``list`` (events kept in memory: the sink's own cost) and ``session`` (a real
RunSession: hash chain, group commit, fdatasync). ``before`` is the sink of the commit
before this change (loaded from git when the history is there), fed the same frames.

Goal (issue 19): >= 100,000 frames/s decoded.

    python bench/bench_trace_sink.py [--frames N] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import _results  # noqa: E402

from monitors import trace_proto as tp  # noqa: E402
from monitors.trace_sink import TraceSink, TraceSinkConfig  # noqa: E402
from ptaudit.core.events import EventData  # noqa: E402
from ptaudit.core.session import RunSession  # noqa: E402

BEFORE_COMMIT = "6318abd6374664d93140eedaa5384d7f233a9624"  # main before issue 19


def _open(path: str, pid: int = 42, flags: int = 0) -> bytes:
    m = tp.BY_TYPE[tp.MSG_SYSCALL_OPEN](pathname=path, flags=flags, fd=-100, sysno=257)
    c = m.context_data
    c.thread_group_id = c.thread_id = pid
    c.cwd, c.process_name, c.time_ns = "/workspace", "python3", time.time_ns()
    c.credentials.effective_uid = 1000
    m.exit.result = 3
    return tp.frame(tp.MSG_SYSCALL_OPEN, m.SerializeToString())


def _lifecycle(pid: int) -> list[bytes]:
    ex = tp.BY_TYPE[tp.MSG_SENTRY_EXEC](binary_path="/usr/bin/python3", argv=["python3", "-c", "pass"])
    ex.context_data.thread_group_id = ex.context_data.thread_id = pid
    cl = tp.BY_TYPE[tp.MSG_SENTRY_CLONE](created_thread_group_id=pid + 1, created_thread_id=pid + 1)
    cl.context_data.thread_group_id = cl.context_data.thread_id = pid
    ext = tp.BY_TYPE[tp.MSG_SENTRY_TASK_EXIT](exit_status=0)
    ext.context_data.thread_group_id = ext.context_data.thread_id = pid + 1
    return [tp.frame(tp.MSG_SENTRY_EXEC, ex.SerializeToString()), tp.frame(tp.MSG_SENTRY_CLONE, cl.SerializeToString()),
            tp.frame(tp.MSG_SENTRY_TASK_EXIT, ext.SerializeToString())]


def frames(mix: str, n: int) -> tuple[list[bytes], int]:
    """(frames, how many of them become events)."""
    out: list[bytes] = []
    recorded = 0
    i = 0
    while len(out) < n:  # exactly n frames, counting only the events of frames kept
        if mix == "mixed" and i % 500 == 499:
            life = _lifecycle(1000 + i)[:n - len(out)]
            out += life
            recorded += len(life)
        elif mix == "usr" or (mix == "mixed" and i % 5):
            out.append(_open(f"/usr/lib/python3/dist-packages/torch/_ops/{i % 3000}.py"))
        else:
            out.append(_open(f"/workspace/data/shard-{i % 5000:05d}.parquet"))
            recorded += 1
        i += 1
    return out, recorded


def sender_main(sock: str, path: str) -> None:
    """Child process: the fake runsc."""
    data = Path(path).read_bytes()
    fs, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "little")
        fs.append(data[i + 4:i + 4 + n])
        i += 4 + n
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock)
    s.send(tp.Handshake(version=1).SerializeToString())
    s.recv(64)
    print("READY", flush=True)
    sys.stdin.readline()
    send = s.send
    for f in fs:
        send(f)
    print("SENT", flush=True)
    sys.stdin.readline()
    s.close()


class ListSink:
    def __init__(self) -> None:
        self.n = 0

    def record(self, ev: EventData) -> None:
        self.n += 1

    def record_many(self, evs: list[EventData]) -> None:
        self.n += len(evs)


def _old_sink_module() -> ModuleType | None:
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE_COMMIT}:monitors/trace_sink.py"],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp(prefix="bts-")) / "trace_sink_before.py"
    path.write_bytes(src.replace(b"from . import trace_proto", b"from monitors import trace_proto")
                     .replace(b"from .base import", b"from monitors.base import")
                     .replace(b"\n@register\n", b"\n"))  # not registered: the current sink is
    spec = importlib.util.spec_from_file_location("trace_sink_before", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pydantic resolves the config's annotations through it
    spec.loader.exec_module(mod)
    return mod


def run_one(sink_cls: Any, cfg_cls: Any, blob: Path, n: int, recorded: int, sink_kind: str) -> float:
    d = Path(tempfile.mkdtemp(prefix="bts-", dir="/tmp"))
    session = RunSession.create(d / "run") if sink_kind == "session" else None
    lst = ListSink()
    record = session.record if session is not None else lst.record
    sink = sink_cls(cfg_cls(socket_path=d / "t.sock"))
    sink.start(record)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, __file__, "--as-sender", str(d / "t.sock"), str(blob)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdin and p.stdout and p.stdout.readline().strip() == "READY"
    # Events of the handshake (proc.trace_connected) are not part of the load.
    deadline = time.monotonic() + 10
    while sink.status().events < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    base = sink.status().events
    t0, c0 = time.monotonic(), time.process_time()
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "SENT"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        c = sink.counts
        if c["messages"] + c["queue_dropped"] >= n and sink.status().events - base >= recorded - c["queue_dropped"]:
            break
        time.sleep(0.002)
    dt, cpu = time.monotonic() - t0, time.process_time() - c0
    p.stdin.write("bye\n")
    p.stdin.flush()
    p.wait(30)
    dropped = sink.counts["queue_dropped"]
    sink.stop()
    if session is not None:
        session.close(0)
    shutil.rmtree(d, ignore_errors=True)
    if dropped:
        print(f"  ({sink_kind}: {dropped} frames dropped by the sink's queue)")
    return n / dt, n / cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300_000)
    ap.add_argument("--quick", action="store_true", help="60,000 frames (make bench)")
    args = ap.parse_args()
    n = 60_000 if args.quick else args.frames
    old = _old_sink_module()
    tmp = Path(tempfile.mkdtemp(prefix="bts-"))
    try:
        print(f"{n:,} frames per row, {os.cpu_count()} cores; before = {BEFORE_COMMIT[:10]}"
              f"{'' if old else ' (not in this checkout: before rows skipped)'}")
        print("(before with a session: 5,000 frames, each recorded event then waited for its own commit)")
        print("f/s: frames per second of wall time; f/cpu-s: per second of the sink process's CPU time "
              "(all its threads), what one free core would sustain")
        print(f"\n{'frames':16s} {'sink':8s} {'before f/s':>11s} {'f/cpu-s':>11s} {'now f/s':>11s} {'f/cpu-s':>11s} "
              f"{'speed-up':>9s}")
        for mix in ("workspace", "usr", "mixed"):
            fs, recorded = frames(mix, n)
            blob = tmp / f"{mix}.bin"
            blob.write_bytes(b"".join(len(f).to_bytes(4, "little") + f for f in fs))
            # Before, each recorded event waited for its own fdatasync: fewer frames, same rate measure.
            nb = min(n, 5_000)
            fsb, recb = frames(mix, nb)
            blob_b = tmp / f"{mix}-before.bin"
            blob_b.write_bytes(b"".join(len(f).to_bytes(4, "little") + f for f in fsb))
            for kind in ("list", "session"):
                now, now_cpu = run_one(TraceSink, TraceSinkConfig, blob, n, recorded, kind)
                before = before_cpu = None
                if old is not None:
                    before, before_cpu = (
                        run_one(old.TraceSink, old.TraceSinkConfig, blob_b, nb, recb, kind) if kind == "session"
                        else run_one(old.TraceSink, old.TraceSinkConfig, blob, n, recorded, kind))
                b = f"{before:11,.0f} {before_cpu:11,.0f}" if before else f"{'-':>11s} {'-':>11s}"
                r = f"{now / before:8.1f}x" if before else f"{'-':>9s}"
                print(f"{mix:16s} {kind:8s} {b} {now:11,.0f} {now_cpu:11,.0f} {r}", flush=True)
                _results.record("trace_sink", f"{mix} opens, {kind} sink", now, "frames/s", before,
                                "sink before issue 19" if before else None,
                                note=f"{now_cpu:,.0f} frames per CPU-second; >= 100,000 frames/s asked")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _results.flush()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--as-sender":
        sender_main(sys.argv[2], sys.argv[3])
    else:
        main()
