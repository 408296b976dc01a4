"""What the workload did, for a reviewer: packages downloaded, the process tree with CPU
time, and the final model's files with hashes (``report.json`` key ``workload``).

* packages: every successful download of a wheel or sdist (name and version parsed from
  the file name, size and sha256 of the body as recorded by the proxy);
* processes: every process the trace points saw, with its parent, command line, start,
  exit status, and CPU seconds from the resource samples (`cpu_pct` over the process's
  life up to the last sample that saw it; 0 samples: unknown). Sampled: CPU spent after
  the last sample before the process exited is not counted (a lower bound);
* final_model: the files under the task's final_model directory at the end of the run
  (the file monitor's final scan), with size and sha256.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ptaudit.core.events import (
    EventDataError,
    FsFinalScan,
    NetResponse,
    ProcClone,
    ProcExec,
    ProcExit,
    ResSample,
)
from ptaudit.core.proctree import ProcTree
from ptaudit.core.runlog import read_events

_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SDIST = re.compile(r"^(?P<name>.+)-(?P<version>[0-9][^-]*)\.(tar\.gz|zip|tar\.bz2)$")
MAX_ROWS = 500
_KINDS = frozenset(m.KIND for m in (ProcExec, ProcClone, ProcExit, ResSample, NetResponse, FsFinalScan))


def package_of(url: str) -> dict[str, str] | None:
    """{name, version, file} of a Python package file named by url, else None."""
    fname = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    m = _WHEEL.match(fname) or _SDIST.match(fname)
    if m is None:
        return None
    return {"name": re.sub(r"[-_.]+", "-", m["name"]).lower(), "version": m["version"], "file": fname}


def summarize(events_path: Path, final_model: str = "final_model") -> dict[str, Any]:
    tree = ProcTree()
    packages: dict[str, dict[str, Any]] = {}
    start: dict[int, int] = {}
    cpu: dict[int, float] = {}
    last: dict[int, tuple[int, int, Any]] = {}
    model: dict[str, dict[str, Any]] = {}
    prefix = final_model.rstrip("/") + "/"
    for e in read_events(events_path, bad=[]):
        if e.kind not in _KINDS:
            continue
        try:
            d = e.payload
        except EventDataError:
            continue  # counted by the report's scan; nothing to summarize from it
        if isinstance(d, (ProcExec, ProcClone, ProcExit)):
            tree.update(d)
            pid = d.child_pid if isinstance(d, ProcClone) else d.pid
            if not isinstance(d, ProcExit) and isinstance(pid, int):
                start.setdefault(pid, int(d.time_ns or e.ts))
        elif isinstance(d, ResSample):
            # proc.* events may be recorded after the samples (the trace sink drains its
            # backlog later): keep the last share per pid and pair it with the start below.
            for p in d.procs or []:
                if isinstance(p.get("pid"), int) and isinstance(p.get("cpu_pct"), int):
                    last[p["pid"]] = (e.ts, p["cpu_pct"], p.get("cmd"))
        elif isinstance(d, NetResponse) and d.status == 200 and (pkg := package_of(d.url)):
            size = d.body.size if d.body is not None and d.body.size is not None else d.size
            sha = d.body.sha256 if d.body is not None and d.body.sha256 else d.sha256
            packages.setdefault(pkg["file"], {**pkg, "size": size, "sha256": sha, "host": d.host, "seq": e.seq})
        elif isinstance(d, FsFinalScan) and d.path.startswith(prefix):
            model[d.path] = {"path": d.path, "size": d.size, "sha256": d.sha256, "type": d.type}
    for pid, (ts, pct, _cmd) in last.items():
        if pid in start:
            cpu[pid] = pct / 100 * max(0, ts - start[pid]) / 1e9
    procs = []
    for pid, info in sorted(tree.procs.items())[:MAX_ROWS]:
        procs.append({"pid": pid, "ppid": info.ppid, "cmdline": " ".join(info.argv)[:300] or None,
                      "exe": info.exe, "exit_status": info.exit_status,
                      "cpu_s": round(cpu[pid], 2) if pid in cpu else None})
    return {"packages": sorted(packages.values(), key=lambda p: (p["name"], p["version"]))[:MAX_ROWS],
            "processes": procs, "final_model": [model[p] for p in sorted(model)][:MAX_ROWS]}


def render_text(w: dict[str, Any], out: Any) -> None:
    """Plain sections for the text report (out: a rich Console)."""
    if w["packages"]:
        out.print(f"\npackages downloaded ({len(w['packages'])}):", markup=False)
        for p in w["packages"]:
            out.print(f"  {p['name']} {p['version']}  {p['size'] or 0:,} bytes  {p['file']}", markup=False)
    busy = [p for p in w["processes"] if p["cpu_s"]]
    if w["processes"]:
        out.print(f"\nprocesses ({len(w['processes'])}; CPU seconds sampled, a lower bound):", markup=False)
        kids: dict[int | None, list[dict[str, Any]]] = {}
        pids = {p["pid"] for p in w["processes"]}
        for p in w["processes"]:
            kids.setdefault(p["ppid"] if p["ppid"] in pids else None, []).append(p)

        def show(p: dict[str, Any], depth: int) -> None:
            c = f"{p['cpu_s']:.1f}s" if p["cpu_s"] is not None else "-"
            out.print(f"  {'  ' * depth}{p['pid']:>5} cpu {c:>7}  exit {p['exit_status']}  "
                      f"{(p['cmdline'] or p['exe'] or '?')[:100]}", markup=False)
            for k in kids.get(p["pid"], [])[:50]:
                show(k, min(depth + 1, 12))
        for root in kids.get(None, [])[:50]:
            show(root, 0)
        if busy:
            top = max(busy, key=lambda p: p["cpu_s"])
            out.print(f"  busiest: pid {top['pid']} {top['cpu_s']:.1f}s CPU: {(top['cmdline'] or '')[:80]}",
                      markup=False)
    if w["final_model"]:
        out.print(f"\nfinal model ({len(w['final_model'])} files):", markup=False)
        for f in w["final_model"]:
            out.print(f"  {f['path']}  {f['size'] or 0:,} bytes  sha256 {f['sha256']}", markup=False)
