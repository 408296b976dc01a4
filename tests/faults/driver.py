"""One audited run, in this process, with one component killed at a chosen moment.

    python -m tests.faults.driver SPEC.json

SPEC (JSON): task, world, policy, workspace, out, command, and fault {target, at}: ``at``
seconds after the sandbox started, ``target`` is one of

* ``mitmdump``, ``relay``: SIGKILL of that process;
* ``ptaudit``: SIGKILL of this process -- the orchestrator, the recorder and every
  in-process monitor at once (as the OOM killer would);
* ``trace``, ``fs``: the trace sink's or the file monitor's worker threads die (an
  exception no handler of theirs catches is raised inside each, as if the code crashed);
* ``detectors``: the live detectors' log tail raises (a bug in their reading);
* ``none``: no fault (the control run).

Before acting it writes OUT.fault.json: the fault, the pids of everything the run
started (with create times, to tell a recycled pid), and the container id, so the caller
can check afterwards that nothing survived. It runs the real Orchestrator: the same code
``ptaudit run`` runs, started from this driver so that threads can be targeted.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from detectors import load_policy
from policies import resolve
from ptaudit.app.build import RunSpec
from ptaudit.app.live import Progress
from ptaudit.app.run import Orchestrator
from ptaudit.core.errors import PtauditError
from ptaudit.core.task import load_task
from ptaudit.core.world import load_world

TARGETS = ("mitmdump", "relay", "ptaudit", "trace", "fs", "detectors", "none")


class InjectedFault(BaseException):
    """Raised inside a monitor's thread: no ``except Exception`` there catches it."""


class DetectorTailError(RuntimeError):
    """Raised inside the live detectors' log tail: what a bug in their reading would raise."""


def _ref(pid: int | None) -> dict[str, Any] | None:
    if pid is None:
        return None
    try:
        return {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    except psutil.Error:
        return None


def _kill_threads(threads: list[threading.Thread], exc: type[BaseException] = InjectedFault) -> bool:
    """Raise InjectedFault in each live thread; True once one of them has died of it.
    A thread blocked in a system call (a batched inotify read) takes the exception only
    when it returns to Python; by then the first death has stopped the run, and waiting
    for all of them would let the process exit before this fault is reported."""
    targets = [t for t in threads if t.is_alive() and t.ident is not None]
    for t in targets:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(exc))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and all(t.is_alive() for t in targets):
        time.sleep(0.02)
    return bool(targets) and not all(t.is_alive() for t in targets)


def _inject(orch: Orchestrator, fault: dict[str, Any], report: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sb = orch.sandbox
        if sb is not None and getattr(sb, "_proc", None) is not None:
            break
        time.sleep(0.05)
    else:
        return
    time.sleep(float(fault.get("at", 2.0)))
    sb = orch.sandbox
    assert sb is not None
    target = fault["target"]
    info: dict[str, Any] = {
        "fault": fault, "container_id": sb.id,
        "pids": {"ptaudit": _ref(os.getpid()),
                 "mitmdump": _ref(orch.proxy.pid if orch.proxy else None),
                 "relay": _ref(sb._relay.pid if sb._relay else None),
                 "runsc": _ref(sb._proc.pid if sb._proc else None),
                 "warden": _ref(sb._warden.pid if sb._warden else None)},
        "agent_running": sb._proc is not None and sb._proc.poll() is None,
    }
    if sb._proc is not None:
        try:
            info["sandbox_pids"] = [_ref(c.pid) for c in psutil.Process(sb._proc.pid).children(recursive=True)]
        except psutil.Error:
            info["sandbox_pids"] = []
    delivered = False
    if target in ("mitmdump", "relay"):
        ref = info["pids"][target]
        if ref is not None:
            os.kill(ref["pid"], signal.SIGKILL)
            delivered = True
    elif target in ("trace", "fs"):
        mon = next((m for m in orch.monitors if m.name == target), None)
        if mon is not None:
            workers = [t for t in getattr(mon, "_threads", []) if t.name not in mon.transient_threads]
            delivered = _kill_threads(workers)
    elif target == "detectors" and orch.live is not None and orch.live._thread is not None:
        delivered = _kill_threads([orch.live._thread], DetectorTailError)
    elif target == "ptaudit":
        delivered = True
    info["delivered"] = delivered  # "none": the control run, nothing done
    info["t"] = time.time()
    report.write_text(json.dumps(info))
    if target == "ptaudit":
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    ppath = resolve(spec.get("policy", "default"))
    run = RunSpec(task=load_task(spec["task"]), policy=load_policy(ppath), policy_path=ppath,
                  workspace=Path(spec["workspace"]), out=Path(spec["out"]), command=list(spec["command"]),
                  world=load_world(spec["world"]) if spec.get("world") else None,
                  time_limit=spec.get("time_limit"), min_free=spec.get("min_free"))
    orch = Orchestrator(run, progress=Progress(interval=5, show_agent_output=False))
    fault = spec.get("fault") or {"target": "none"}
    if fault["target"] not in TARGETS:
        print(f"unknown fault target {fault['target']!r}", file=sys.stderr)
        return 2
    report = Path(str(spec["out"]) + ".fault.json")
    threading.Thread(target=_inject, args=(orch, fault, report), name="fault", daemon=True).start()
    try:
        outcome = orch.run()
    except PtauditError as exc:
        print(f"ptaudit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps({"verdict": outcome.verdict, "exit_code": outcome.exit_code, "reason": outcome.reason,
                      "reasons": outcome.reasons}))
    return outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
