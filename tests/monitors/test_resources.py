"""Resource sampler against a real sandbox."""
from __future__ import annotations

from pathlib import Path

import pytest

from monitors.resources import Resources, ResourcesConfig
from sandbox.runsc import find_runsc

from .conftest import Collector, needs_runsc, run_sandboxed


@pytest.mark.runsc
@needs_runsc
def test_samples_and_budget_breaches(tmp_path: Path) -> None:
    col = Collector()
    holder: dict[str, Resources] = {}

    def attach(sb) -> None:  # type: ignore[no-untyped-def]
        mon = Resources(ResourcesConfig(container_id=sb.id, runsc_root=sb.run_dir / "root",
                                        workspace=tmp_path / "ws", interval_s=0.3,
                                        max_processes=2, workspace_max=1 << 20, runsc=find_runsc()))
        holder["m"] = mon
        mon.start(col)

    script = ("import subprocess, time\n"
              "open('/workspace/blob', 'wb').write(bytes(3 << 20))\n"
              "x = bytearray(64 << 20)\n"
              "ps = [subprocess.Popen(['sleep', '3']) for _ in range(3)]\n"
              "busy = subprocess.Popen(['python3', '-c', 'import time\\nt = time.time()\\n"
              "while time.time() - t < 2.5: pass'])\n"
              "[p.wait() for p in ps + [busy]]\n")
    res = run_sandboxed(tmp_path, ["python3", "-c", script], col, on_start=attach)
    m = holder["m"]
    m.stop()
    assert res.exit_code == 0 and m.status().healthy
    samples = [d for d in col.of("res.sample") if d["pids"] is not None]
    assert samples, col.of("res.sample")
    peak = max(samples, key=lambda d: d["pids"])
    assert peak["pids"] >= 4 and peak["mem_bytes"] > 64 << 20 and peak["cpu_s"] > 0
    assert peak["host_procs"] >= 3 and peak["host_cpu_s"] > 0
    assert max(d["workspace_bytes"] for d in samples) >= 3 << 20
    breaches = {d["budget"]: d for d in col.of("res.budget_exceeded")}
    assert set(breaches) == {"max_processes", "workspace_max"}  # each reported once
    assert breaches["max_processes"]["limit"] == 2 and breaches["max_processes"]["value"] > 2
    assert len(col.of("res.budget_exceeded")) == 2
    (summary,) = col.of("res.summary")
    assert summary["max_pids"] >= 4 and summary["samples"] >= len(samples)
    # per process: the busy loop uses most of a CPU over its life
    rows = [p for d in samples for p in d["procs"] or []]
    busy = [p for p in rows if p["cmd"] == "python3" and p["ppid"] != 0]
    assert busy and max(p["cpu_pct"] for p in busy) >= 50, rows
