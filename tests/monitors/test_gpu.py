"""GPU monitor: no-NVML behaviour (real), sampling and accounting (fake NVML)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from monitors.gpu import GpuConfig, GpuMonitor

from .conftest import Collector


def _nvml_present() -> bool:
    try:
        import pynvml
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(_nvml_present(), reason="this machine has NVML")
def test_no_nvml_one_unavailable_event_and_carries_on() -> None:
    col = Collector()
    m = GpuMonitor(GpuConfig(interval_s=0.05))
    m.start(col)
    time.sleep(0.2)
    m.stop()
    m.stop()
    assert col.kinds() == ["gpu.unavailable"]
    assert "NVML" in col.events[0][2]["reason"] and col.events[0][0] == "gpu"
    assert m.status().healthy and not m.available


class FakeNvml:
    """Just the NVML calls the monitor makes; util follows a script of values."""

    def __init__(self, utils: list[int]):
        self.utils = utils
        self.i = 0

    def nvmlInit(self) -> None: ...  # noqa: N802
    def nvmlShutdown(self) -> None: ...  # noqa: N802
    def nvmlDeviceGetCount(self) -> int: return 1  # noqa: N802,E704
    def nvmlDeviceGetHandleByIndex(self, i: int) -> str: return "h0"  # noqa: N802,E704
    def nvmlDeviceGetName(self, h: str) -> str: return "Fake H100"  # noqa: N802,E704

    def nvmlDeviceGetUtilizationRates(self, h: str) -> SimpleNamespace:  # noqa: N802
        u = self.utils[min(self.i, len(self.utils) - 1)]
        self.i += 1
        return SimpleNamespace(gpu=u, memory=0)

    def nvmlDeviceGetMemoryInfo(self, h: str) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(used=1 << 30, total=80 << 30, free=79 << 30)

    def nvmlDeviceGetPowerUsage(self, h: str) -> int:  # noqa: N802
        raise RuntimeError("not supported")  # becomes power_w null

    def nvmlDeviceGetComputeRunningProcesses(self, h: str) -> list[SimpleNamespace]:  # noqa: N802
        return [SimpleNamespace(pid=42, usedGpuMemory=966 << 20)]


def test_samples_and_gpu_seconds_with_fake_nvml() -> None:
    col = Collector()
    m = GpuMonitor(GpuConfig(interval_s=0.1), nvml=FakeNvml([0, 90, 90, 90, 90, 0, 0, 0, 0, 0]))
    m.start(col)
    time.sleep(1.0)
    m.stop()
    samples = col.of("gpu.sample")
    assert samples[0] == {"index": 0, "util_pct": 0, "mem_used": 1 << 30, "mem_total": 80 << 30,
                          "power_w": None, "processes": [{"pid": 42, "mem": 966 << 20}]}
    (summary,) = col.of("gpu.summary")
    assert 0.3 <= summary["gpu_seconds"] <= 0.6  # four busy intervals of ~0.1 s
    assert summary["util_seconds"] == pytest.approx(summary["gpu_seconds"] * 0.9, rel=0.05)
    assert summary["devices"][0]["name"] == "Fake H100" and m.status().healthy


def test_lost_gpu_makes_the_monitor_unhealthy() -> None:
    class Lost(FakeNvml):
        def nvmlDeviceGetUtilizationRates(self, h: str) -> SimpleNamespace:  # noqa: N802
            raise RuntimeError("GPU is lost")

    m = GpuMonitor(GpuConfig(interval_s=0.02), nvml=Lost([0]))
    col = Collector()
    m.start(col)
    time.sleep(0.3)
    st = m.status()
    assert not st.healthy and "GPU is lost" in st.detail
    m.stop()  # must not raise
    assert col.of("gpu.summary")[0]["gpu_seconds"] == 0


def test_gpu_processes_attributed_to_the_run() -> None:
    """NVML lists host pids: the sandbox's sentry (in the run) and another tenant's."""
    class Shared(FakeNvml):
        def nvmlDeviceGetComputeRunningProcesses(self, h: str) -> list[SimpleNamespace]:  # noqa: N802
            return [SimpleNamespace(pid=4242, usedGpuMemory=3 << 30), SimpleNamespace(pid=77, usedGpuMemory=1 << 30)]

    col = Collector()
    m = GpuMonitor(GpuConfig(interval_s=0.05), nvml=Shared([50]))
    m.attribute_to(lambda: {4242, 4243})
    m.start(col)
    time.sleep(0.3)
    m.stop()
    s = col.of("gpu.sample")[-1]
    assert s["processes"] == [{"pid": 4242, "mem": 3 << 30, "run": True}, {"pid": 77, "mem": 1 << 30, "run": False}]
    assert s["run_mem"] == 3 << 30
    run = col.of("gpu.summary")[0]["run"]
    assert run["pids"] == [4242] and run["max_mem"] == 3 << 30 and run["gpu_seconds"] > 0.1
