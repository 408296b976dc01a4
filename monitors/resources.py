"""Resources: periodic samples of the sandbox's CPU, memory, processes and workspace size.

The inside view comes from runsc (``runsc events --stats ID``: cgroup-like CPU, memory
and pid counters of the sandbox; ``runsc ps`` as a fallback for the process count). The
host view comes from psutil over runsc's own processes (sentry, gofer, ptrace stubs);
host memory figures understate what the agent allocated (gVisor manages its own memory),
so budgets are checked against the inside view.

Per process (``procs`` in each sample, from the ``runsc ps`` table, sandbox pids as in the
trace events): pid, ppid, cmd and ``cpu_pct``, the share of one CPU the process used over
its life so far; with the process's start (its ``proc.exec`` event) that gives its CPU
time up to the sample. (runsc's TIME column is system time only, so it is not used.)

Events (source ``res``): ``res.sample`` every ``interval_s``; ``res.budget_exceeded``
{budget, limit, value} the first time a budget is exceeded (the orchestrator decides what
to do; the sandbox enforces its own hard caps); ``res.summary`` at stop.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
from pydantic import Field

from ptaudit.core.diskuse import disk_usage
from ptaudit.core.events import ResBudgetExceeded, ResSample, ResSummary
from ptaudit.core.task import workspace_max

from .base import Monitor, MonitorConfig, MonitorContext, Record, register


class ResourcesConfig(MonitorConfig):
    """Resource sampler settings (interval and budgets come from the policy)."""

    container_id: str = Field(description="The sandbox's container id (Sandbox.id).")
    runsc_root: Path = Field(description="runsc --root of that sandbox (Sandbox.run_dir / 'root').")
    workspace: Path | None = Field(default=None, description="Host workspace dir to measure.")
    interval_s: float = Field(default=5.0, gt=0, description="policy budgets.sample_interval")
    max_processes: int | None = Field(default=None, ge=1, description="policy budgets.max_processes")
    workspace_max: int | None = Field(default=None, ge=1, description="budgets.workspace_max (bytes), or the task's if smaller")
    runsc: str = Field(default="runsc", description="The runsc binary that runs the sandbox.")


@register
class Resources(Monitor):
    source = "res"
    name = "resources"
    phase = "with_sandbox"
    lane = 50

    @classmethod
    def from_context(cls, ctx: MonitorContext) -> Resources:
        assert ctx.container_id is not None and ctx.runsc_root is not None, "built with the sandbox"
        pol = ctx.policy.budgets
        return cls(ResourcesConfig(container_id=ctx.container_id, runsc_root=ctx.runsc_root, workspace=ctx.workspace,
                                   interval_s=pol.sample_interval, max_processes=pol.max_processes,
                                   workspace_max=workspace_max(ctx.task, pol.workspace_max), runsc=ctx.runsc))

    def __init__(self, cfg: ResourcesConfig):
        super().__init__()
        self.cfg = cfg
        self._exceeded: set[str] = set()
        self.samples = 0
        self._peak: dict[str, float] = {}
        self._last_cpu: float | None = None
        self._procs: dict[int, psutil.Process] = {}

    def start(self, record: Record) -> None:
        self._record_fn = record
        self._start_sampler(self._loop, "res-sampler")
        self._detail = "sampling"

    def stop(self) -> None:
        if not self._stop_sampler():
            return
        self._record(ResSummary(samples=self.samples, cpu_s=self._last_cpu,
                                **{f"max_{k}": v for k, v in self._peak.items()}))
        self._detail = "stopped"

    def _loop(self) -> None:
        while True:
            try:
                self.sample_once()
            except Exception as exc:  # noqa: BLE001
                self._fail(f"resource sampling failed: {exc!r}")
                return
            if self._stop.wait(self.cfg.interval_s):
                return

    def _runsc(self, *args: str) -> str | None:
        try:
            out = subprocess.run([self.cfg.runsc, "--root", str(self.cfg.runsc_root), *args],
                                 capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    def inside(self) -> dict[str, Any]:
        """cpu_s, mem_bytes, pids from runsc (None where unavailable: not started or gone)."""
        cid = self.cfg.container_id
        res: dict[str, Any] = {"cpu_s": None, "mem_bytes": None, "pids": None}
        raw = self._runsc("events", "--stats", cid)
        if raw:
            try:
                d = json.loads(raw.splitlines()[0]).get("data") or {}
                res["cpu_s"] = round(d["cpu"]["usage"]["total"] / 1e9, 3)
                res["mem_bytes"] = d["memory"]["usage"]["usage"]
                res["pids"] = (d.get("pids") or {}).get("current")
            except (ValueError, KeyError, TypeError, IndexError):
                pass
        if res["pids"] is None:
            ps = self._runsc("ps", "--format", "json", cid)
            try:
                res["pids"] = len(json.loads(ps)) if ps else None
            except ValueError:
                pass
        return res

    def processes(self, limit: int = 64) -> list[dict[str, Any]] | None:
        """[{pid, ppid, cmd, cpu_pct}] from `runsc ps`, busiest first (None if unavailable)."""
        raw = self._runsc("ps", self.cfg.container_id)
        if not raw:
            return None
        lines = raw.splitlines()
        if not lines or not lines[0].split()[:3] == ["UID", "PID", "PPID"]:
            return None
        out = []
        for line in lines[1:]:
            f = line.split(None, 7)
            if len(f) == 8 and f[1].isdigit() and f[2].isdigit() and f[3].isdigit():
                out.append({"pid": int(f[1]), "ppid": int(f[2]), "cmd": f[7][:256], "cpu_pct": int(f[3])})
        return sorted(out, key=lambda p: (-p["cpu_pct"], p["pid"]))[:limit]

    def host(self) -> dict[str, Any]:
        """CPU seconds and RSS of runsc's processes for this sandbox (psutil)."""
        roots = {f"--root={self.cfg.runsc_root}", str(self.cfg.runsc_root)}
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info.get("cmdline") or []
            if any(a in roots for a in cmd[:6]):
                found[p.pid] = p
        for p in list(found.values()):
            try:
                for c in p.children(recursive=True):
                    found.setdefault(c.pid, c)
            except psutil.Error:
                pass
        cpu = rss = 0.0
        for p in found.values():
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu += t.user + t.system
                    rss += p.memory_info().rss
            except psutil.Error:
                continue
        return {"host_cpu_s": round(cpu, 3), "host_rss_bytes": int(rss), "host_procs": len(found)}

    def sample_once(self) -> dict[str, Any]:
        t0 = time.monotonic()
        data = {**self.inside(), **self.host(), "procs": self.processes()}
        if self.cfg.workspace is not None:
            data["workspace_bytes"], _ = disk_usage(self.cfg.workspace)
        data["sample_ms"] = round((time.monotonic() - t0) * 1000, 1)
        self.samples += 1
        if data["cpu_s"] is not None:
            self._last_cpu = data["cpu_s"]
        for k in ("mem_bytes", "pids", "workspace_bytes", "host_rss_bytes"):
            v = data.get(k)
            if isinstance(v, (int, float)):
                self._peak[k] = max(self._peak.get(k, 0), v)
        self._record(ResSample(**data))
        self._check("max_processes", self.cfg.max_processes, data.get("pids"))
        self._check("workspace_max", self.cfg.workspace_max, data.get("workspace_bytes"))
        return data

    def _check(self, budget: str, limit: int | None, value: Any) -> None:
        if limit is None or not isinstance(value, int) or value <= limit or budget in self._exceeded:
            return
        self._exceeded.add(budget)
        self._record(ResBudgetExceeded(budget=budget, limit=limit, value=value))
