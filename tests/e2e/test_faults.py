"""Faults mid-run: each component of an audited run killed at a random moment of a busy
run. Whatever dies, the run directory verifies, nothing of the run survives, and the run
never reads pass (make soak runs the same in a loop; tests/faults/)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REAL_KEY, DemoWorld
from tests.faults.checks import ROOT, check, driver_command, write_spec

AGENT = ROOT / "tests" / "faults" / "busy_agent.py"


def _fault_run(w: DemoWorld, tmp: Path, target: str, at: float, duration: float = 5.0):  # type: ignore[no-untyped-def]
    ws = tmp / "workspace"
    ws.mkdir()
    shutil.copy(AGENT, ws / "busy_agent.py")
    out = tmp / "run"
    spec = write_spec(tmp / "spec.json", task=w.task, world=w.world, workspace=ws, out=out,
                      command=["/usr/bin/python3", "-u", "/workspace/busy_agent.py", str(duration)],
                      fault={"target": target, "at": at})
    p = subprocess.run(driver_command(spec), capture_output=True, text=True, timeout=240, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "PTAUDIT_DEMO_ANTHROPIC_KEY": REAL_KEY})
    return p, check(out, Path(str(out) + ".fault.json"))


@pytest.mark.parametrize("target", ["mitmdump", "relay", "trace", "fs", "detectors", "ptaudit"])
def test_a_killed_component_never_leaves_a_pass(demo_world: DemoWorld, tmp_path: Path, target: str) -> None:
    at = round(random.uniform(1.0, 3.5), 2)
    p, r = _fault_run(demo_world, tmp_path, target, at)
    why = f"{target} killed at {at}s: {r}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    assert r.delivered, why
    assert r.verified, why  # the log is intact (a torn last line allowed after a SIGKILL)
    assert r.survivors == [] and not r.registry_left, why
    assert r.verdict == "incomplete", why
    if target == "ptaudit":
        assert p.returncode == -9 and "never sealed" in (r.reason or ""), why
    else:
        assert p.returncode == 3, why
        expect = {"mitmdump": "proxy", "relay": "relay", "trace": "TraceSink", "fs": "FsWatch",
                  "detectors": "the log tail"}[target]
        assert expect in (r.reason or ""), why


def test_control_run_without_a_fault_passes(demo_world: DemoWorld, tmp_path: Path) -> None:
    # The same busy agent, nothing killed: the checks above are not met by accident.
    p, r = _fault_run(demo_world, tmp_path, "none", 2.0, duration=4.0)
    assert p.returncode == 0 and r.verdict == "pass" and r.verify_rc == 0, f"{r}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    assert r.survivors == [] and not r.registry_left
