"""GPU samples from NVML (source ``gpu``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import EventData


class GpuSample(EventData):
    """One NVML sample of one device."""

    KIND = "gpu.sample"
    SOURCE = "gpu"
    index: int
    util_pct: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    power_w: float | None = None
    processes: list[dict[str, Any]] = Field(default_factory=list, description="[{pid, mem, run?}] (host pids; "
                                            "run: the pid belongs to this run's sandbox).")
    run_mem: int | None = Field(default=None, description="Bytes this run's processes hold (with attribution).")


class GpuSummary(EventData):
    """At stop: GPU-seconds used (sampled time with utilisation above zero), per device and in all."""

    KIND = "gpu.summary"
    SOURCE = "gpu"
    gpu_seconds: float = 0.0
    util_seconds: float = 0.0
    devices: list[dict[str, Any]] = Field(default_factory=list)
    run: dict[str, Any] | None = Field(default=None, description="{max_mem, gpu_seconds, pids} of this run's "
                                       "processes (with attribution).")


class GpuUnavailable(EventData):
    """NVML could not start (no driver, no GPU): a fact about the machine, said once."""

    KIND = "gpu.unavailable"
    SOURCE = "gpu"
    reason: str
