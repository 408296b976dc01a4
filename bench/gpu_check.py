"""GPU monitor check on a real GPU (no pytest): ~20 s of bf16 matmuls under GpuMonitor.

    python bench/gpu_check.py [--seconds 20] [--interval 1]

Prints every gpu.sample, the gpu.summary and a verdict: samples must show the load
(util > 50 %, this process listed with its memory) and gpu_seconds must be close to the
load's duration. Exit status 0 when it holds, 1 when not, 2 without torch/CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitors.gpu import GpuConfig, GpuMonitor  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed")
        return 2
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch")
        return 2
    events: list[tuple[str, str, dict]] = []
    lock = threading.Lock()

    def emit(source: str, kind: str, data: dict) -> None:
        with lock:
            events.append((source, kind, data))
        print(kind, json.dumps(data), flush=True)

    mon = GpuMonitor(GpuConfig(interval_s=args.interval))
    t0 = time.monotonic()
    mon.start(emit)
    print("nvml start", round(time.monotonic() - t0, 3), "s;", mon.status())
    time.sleep(2 * args.interval)  # idle baseline
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    load_start = time.monotonic()
    n = 0
    while time.monotonic() - load_start < args.seconds:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        n += 20
    load_s = time.monotonic() - load_start
    tflops = n * 2 * 8192**3 / load_s / 1e12
    time.sleep(2 * args.interval)  # idle tail
    mon.stop()
    st = mon.status()
    summary = next(d for _, k, d in events if k == "gpu.summary")
    samples = [d for _, k, d in events if k == "gpu.sample"]
    busy = [d for d in samples if (d["util_pct"] or 0) > 50]
    mine = [p for d in samples for p in d["processes"] if p["pid"] == os.getpid()]
    print(f"load {load_s:.1f} s, {tflops:.0f} TFLOP/s bf16; samples {len(samples)}, busy {len(busy)}, "
          f"own-pid entries {len(mine)}; gpu_seconds {summary['gpu_seconds']}; status {st}")
    ok = (st.healthy and busy and mine and abs(summary["gpu_seconds"] - load_s) <= 3 * args.interval + 1)
    print("OK" if ok else "FAILED: expected busy samples, this pid listed, gpu_seconds ~ load time")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
