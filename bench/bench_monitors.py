"""Overhead of the host monitors on a file-heavy sandboxed agent, and the event rates they sustain.

    python bench/bench_monitors.py [--files 2000] [--repeat 3] [--sink session|list]

Modes, interleaved per round so drift hits all alike: none, fs (watchdog), trace (gVisor
remote sink), all (fs + trace + resources + gpu). The agent writes --files files of 1 KiB
into /workspace, reads them back and deletes them. Reported: median wall time of the
sandbox run per mode, its ratio to "none", events recorded per mode and events/s over the
run. With --sink session (default) events go through a real RunSession (hash chain +
group commit), as in production; --sink list keeps them in memory, which isolates
the monitors' own cost. The trace sink's decode rate alone is bench/bench_trace_sink.py.
Needs runsc and root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import _results  # noqa: E402

from monitors.fs_watch import FsWatch, FsWatchConfig  # noqa: E402
from monitors.gpu import GpuConfig, GpuMonitor  # noqa: E402
from monitors.resources import Resources, ResourcesConfig  # noqa: E402
from monitors.trace_sink import TraceSink, TraceSinkConfig  # noqa: E402
from ptaudit.core.events import EventData  # noqa: E402
from ptaudit.core.session import RunSession  # noqa: E402
from sandbox import Sandbox, SandboxConfig  # noqa: E402

MODES = ["none", "fs", "trace", "all"]
AGENT = ("import os\n"
         "n = {n}\n"
         "os.makedirs('/workspace/d', exist_ok=True)\n"
         "blob = b'x' * 1024\n"
         "for i in range(n):\n"
         "    with open(f'/workspace/d/{{i}}', 'wb') as f: f.write(blob)\n"
         "for i in range(n):\n"
         "    with open(f'/workspace/d/{{i}}', 'rb') as f: f.read()\n"
         "for i in range(n):\n"
         "    os.unlink(f'/workspace/d/{{i}}')\n")


class Counter:
    """Counts events on their way to a RunSession (or nowhere); its ``record``/``record_many``
    pair is what monitors batch through, as with the session itself."""

    def __init__(self, session: RunSession | None = None):
        self.session, self.n, self.lock = session, 0, threading.Lock()

    def record(self, ev: EventData) -> None:
        if self.session is not None:
            self.session.record(ev)
        with self.lock:
            self.n += 1

    def record_many(self, evs: list[EventData]) -> None:
        if self.session is not None:
            self.session.record_many(evs)
        with self.lock:
            self.n += len(evs)


def one_run(mode: str, files: int, sink: str, tmp: Path) -> tuple[float, int]:
    work = Path(tempfile.mkdtemp(prefix="bm-", dir=tmp))
    ws = work / "ws"
    ws.mkdir()
    session = RunSession.create(work / "run", command=["bench"]) if sink == "session" else None
    counter = Counter(session)
    count = counter.record
    mons: list[Any] = []
    flags: list[str] = []
    trace = None
    if mode in ("trace", "all"):
        trace = TraceSink(TraceSinkConfig(socket_path=work / "t.sock"))
        flags = trace.runsc_flags(work / "pod.json")
        trace.start(count)
    if mode in ("fs", "all"):
        mons.append(FsWatch(FsWatchConfig(workspace=ws), blobs=session.rundir.blobs if session else None))
    if mode == "all":
        mons.append(GpuMonitor(GpuConfig(interval_s=1.0)))
    for m in mons:
        m.start(count)
    sb = Sandbox(SandboxConfig(command=["python3", "-c", AGENT.format(n=files)], workspace=ws,
                               runsc_flags=flags), lambda k, d: None, work / "state",
                 output=lambda s, b: None, registry_dir=work / "reg")
    res_mon = None
    if mode == "all":
        res_mon = Resources(ResourcesConfig(container_id=sb.id, runsc_root=sb.run_dir / "root",
                                            workspace=ws, interval_s=1.0))
        res_mon.start(count)
    t0 = time.monotonic()
    result = sb.run()
    wall = time.monotonic() - t0
    for m in [*mons, *( [res_mon] if res_mon else [])]:
        m.final_scan() if isinstance(m, FsWatch) else m.stop()
    if trace is not None:
        trace.stop()
    if session is not None:
        session.close(0, "bench")
    if result.exit_code != 0:
        raise SystemExit(f"agent failed in mode {mode}: {result}")
    for m in [*mons, *([trace] if trace else []), *([res_mon] if res_mon else [])]:
        st = m.status()
        if not st.healthy or st.lost:
            print(f"  warning: {type(m).__name__} {st}")
    shutil.rmtree(work, ignore_errors=True)
    return wall, counter.n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sink", choices=["session", "list"], default="session")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--quick", action="store_true", help="500 files, 1 round (make bench)")
    args = ap.parse_args()
    if args.quick:
        args.files, args.repeat = 500, 1
    if os.geteuid() != 0 or shutil.which("runsc") is None:
        print("needs runsc and root")
        return 2
    modes = args.modes.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="bench-monitors-"))
    walls: dict[str, list[float]] = {m: [] for m in modes}
    events: dict[str, list[int]] = {m: [] for m in modes}
    try:
        one_run("none", 50, "list", tmp)  # warm caches (runsc binary, python in the sandbox)
        for r in range(args.repeat):
            for mode in modes:
                w, n = one_run(mode, args.files, args.sink, tmp)
                walls[mode].append(w)
                events[mode].append(n)
                print(f"round {r} {mode:6s} {w:6.2f} s  {n} events", flush=True)
        print(f"\n{args.files} files x (write 1 KiB, read, delete), median of {args.repeat}, sink={args.sink}, "
              f"{os.cpu_count()} CPUs")
        base = statistics.median(walls["none"]) if "none" in walls else None
        print(f"{'mode':6s} {'wall s':>8s} {'ratio':>6s} {'events':>8s} {'events/s':>9s}")
        for mode in modes:
            w = statistics.median(walls[mode])
            n = int(statistics.median(events[mode]))
            ratio = f"{w / base:.2f}" if base else "-"
            print(f"{mode:6s} {w:8.2f} {ratio:>6s} {n:8d} {n / w:9.0f}")
            if base and mode != "none":
                _results.record("monitors", f"{args.files} files, monitors: {mode}", w, "s", base, "no monitors",
                                better="lower", note=f"{n} events, {n / w:,.0f}/s, sink={args.sink}")
        _results.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
