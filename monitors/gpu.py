"""GPU: NVML samples of every visible GPU, and GPU-seconds accounted at stop.

Events (source ``gpu``): ``gpu.sample`` per device every ``interval_s`` {index, util_pct,
mem_used, mem_total, power_w, processes: [{pid, mem}]} (host pids; a field NVML cannot
give is null); ``gpu.summary`` at stop {gpu_seconds, devices: [...]} where a device's
``gpu_seconds`` is the sampled time during which its utilisation was above zero and
``util_seconds`` the same weighted by utilisation. Without NVML (no driver, no GPU) the
monitor emits exactly one ``gpu.unavailable`` {reason} and stays healthy: a missing GPU
is a fact about the machine, not a monitoring failure.

Attribution: under gVisor's nvproxy the host process that owns the agent's GPU contexts is
the sandbox's sentry, so NVML lists *its* host pid. ``attribute_to(fn)`` gives the monitor
the run's host pids (the runsc process tree, from the sandbox); each listed process then
carries ``run: true|false``, each sample ``run_mem`` (bytes the run holds on that GPU), and
the summary ``run`` {max_mem, gpu_seconds, pids}: the GPU work of this run, told apart from
other tenants of the same GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

from ptaudit.core.events import GpuSample, GpuSummary, GpuUnavailable

from .base import Monitor, MonitorConfig, MonitorContext, Record, register

_FAILS_BEFORE_UNHEALTHY = 3


class GpuConfig(MonitorConfig):
    """GPU sampler settings."""

    interval_s: float = Field(default=5.0, gt=0, description="policy budgets.sample_interval")
    indices: list[int] | None = Field(default=None, description="Devices to watch; None: all.")


@register
class GpuMonitor(Monitor):
    source = "gpu"
    name = "gpu"
    lane = 40

    @classmethod
    def from_context(cls, ctx: MonitorContext) -> GpuMonitor:
        return cls(GpuConfig(interval_s=ctx.policy.budgets.sample_interval))

    def __init__(self, cfg: GpuConfig, nvml: Any = None):
        super().__init__()
        self.cfg = cfg
        self._nvml = nvml  # injectable for tests; default: pynvml
        self._handles: list[tuple[int, Any]] = []
        self._acc: dict[int, dict[str, Any]] = {}
        self._last: float | None = None
        self.available = False
        self._run_pids: Callable[[], set[int]] | None = None
        self._run = {"max_mem": 0, "gpu_seconds": 0.0, "pids": set()}

    def attribute_to(self, run_pids: Callable[[], set[int]]) -> None:
        """Mark NVML processes whose host pid is in run_pids() as this run's."""
        self._run_pids = run_pids

    def start(self, record: Record) -> None:
        self._record_fn = record
        try:
            if self._nvml is None:
                import pynvml
                self._nvml = pynvml
            nv = self._nvml
            nv.nvmlInit()
            count = nv.nvmlDeviceGetCount()
            wanted = range(count) if self.cfg.indices is None else [i for i in self.cfg.indices if i < count]
            self._handles = [(i, nv.nvmlDeviceGetHandleByIndex(i)) for i in wanted]
            if not self._handles:
                raise RuntimeError("NVML reports no GPU")
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, ImportError, ...
            self._record(GpuUnavailable(reason=f"{type(exc).__name__}: {exc}"))
            self._detail = "no GPU"
            return
        self.available = True
        for i, h in self._handles:
            self._acc[i] = {"index": i, "name": self._call("nvmlDeviceGetName", h), "samples": 0,
                            "gpu_seconds": 0.0, "util_seconds": 0.0, "max_mem_used": 0, "max_power_w": 0.0}
        self._start_sampler(self._loop, "gpu-sampler")
        self._detail = f"sampling {len(self._handles)} GPU(s)"

    def stop(self) -> None:
        if not self._stop_sampler():
            return
        if self._thread is not None:
            try:
                self.sample_once()  # account the tail up to now
            except Exception:  # noqa: BLE001 - already reported by the loop
                pass
            devs = list(self._acc.values())
            for d in devs:
                d["gpu_seconds"] = round(d["gpu_seconds"], 3)
                d["util_seconds"] = round(d["util_seconds"], 3)
            extra: dict[str, Any] = {}
            if self._run_pids is not None:
                r = self._run
                extra["run"] = {"max_mem": r["max_mem"], "gpu_seconds": round(r["gpu_seconds"], 3),
                                "pids": sorted(r["pids"])[:256]}
            self._record(GpuSummary(gpu_seconds=round(sum(d["gpu_seconds"] for d in devs), 3),
                                    util_seconds=round(sum(d["util_seconds"] for d in devs), 3), devices=devs,
                                    **extra))
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
        self._detail = "stopped"

    def _loop(self) -> None:
        fails = 0
        while not self._stop.is_set():
            try:
                self.sample_once()
                fails = 0
            except Exception as exc:  # noqa: BLE001
                fails += 1
                if fails >= _FAILS_BEFORE_UNHEALTHY:
                    self._fail(f"NVML sampling failed {fails} times: {exc!r}")
                    return
            self._stop.wait(self.cfg.interval_s)

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nvml, fn)(*args)
        except Exception:  # noqa: BLE001 - unsupported on this GPU, or no samples yet
            return None

    def sample_once(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        dt = 0.0 if self._last is None else now - self._last
        self._last = now
        out = []
        run_pids: set[int] | None = None
        if self._run_pids is not None:
            try:
                run_pids = set(self._run_pids())
            except Exception:  # noqa: BLE001 - the sandbox ended between two samples
                run_pids = set()
        run_busy = False
        for i, h in self._handles:
            util = self._nvml.nvmlDeviceGetUtilizationRates(h).gpu  # raises if the GPU is gone
            mem = self._call("nvmlDeviceGetMemoryInfo", h)
            power = self._call("nvmlDeviceGetPowerUsage", h)
            procs = self._call("nvmlDeviceGetComputeRunningProcesses", h) or []
            data = {"index": i, "util_pct": util,
                    "mem_used": getattr(mem, "used", None), "mem_total": getattr(mem, "total", None),
                    "power_w": round(power / 1000, 1) if power is not None else None,
                    "processes": [{"pid": p.pid, "mem": getattr(p, "usedGpuMemory", None)} for p in procs[:256]]}
            if run_pids is not None:
                for p in data["processes"]:
                    p["run"] = p["pid"] in run_pids
                mine = [p for p in data["processes"] if p["run"]]
                data["run_mem"] = sum(p["mem"] or 0 for p in mine)
                self._run["pids"].update(p["pid"] for p in mine)
                self._run["max_mem"] = max(self._run["max_mem"], data["run_mem"])
                run_busy = run_busy or bool(mine and util)
            acc = self._acc[i]
            acc["samples"] += 1
            if util and util > 0:
                acc["gpu_seconds"] += dt
                acc["util_seconds"] += dt * util / 100
            acc["max_mem_used"] = max(acc["max_mem_used"], data["mem_used"] or 0)
            acc["max_power_w"] = max(acc["max_power_w"], data["power_w"] or 0.0)
            self._record(GpuSample(**data))
            out.append(data)
        if run_busy:
            self._run["gpu_seconds"] += dt
        return out
