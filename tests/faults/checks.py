"""What every run directory left by a fault must show: it verifies (a torn last line is
reported as such), nothing it started survives, and it does not read pass."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sandbox.registry import REGISTRY_DIR
from tests.support import ROOT, run_ptaudit


@dataclass
class FaultResult:
    target: str
    at: float
    delivered: bool
    verify_rc: int
    verify_line: str
    verdict: str
    reason: str | None
    survivors: list[str] = field(default_factory=list)
    registry_left: bool = False
    torn_tail: bool = False

    @property
    def verified(self) -> bool:
        return self.verify_rc in (0, 3)  # intact (3: intact, audit incomplete); 1 would be tampering

    @property
    def false_pass(self) -> bool:
        return self.delivered and self.verdict == "pass"


def _alive(ref: dict[str, Any] | None) -> psutil.Process | None:
    if not ref:
        return None
    try:
        p = psutil.Process(ref["pid"])
        if abs(p.create_time() - ref["create_time"]) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
            return p
    except psutil.Error:
        pass
    return None


def survivors(info: dict[str, Any], wait_s: float = 20.0) -> list[str]:
    """Processes of the run still alive after ``wait_s``: runsc and everything in the
    sandbox, the relay, mitmdump, the warden, anything naming the container."""
    refs = {k: v for k, v in info.get("pids", {}).items() if k != "ptaudit"}
    refs.update({f"sandbox:{r['pid']}": r for r in info.get("sandbox_pids", []) if r})
    cid = info.get("container_id") or "\0"
    deadline = time.monotonic() + wait_s
    while True:
        left = [f"{k} (pid {r['pid']})" for k, r in refs.items() if _alive(r) is not None]
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(cid in a for a in (p.info["cmdline"] or [])) and p.pid != os.getpid():
                    left.append(f"pid {p.pid}: {' '.join(p.info['cmdline'][:4])}")
            except (psutil.Error, TypeError):
                continue
        if not left or time.monotonic() > deadline:
            return sorted(set(left))
        time.sleep(0.25)


def check(out: Path, info_path: Path, wait_s: float = 20.0) -> FaultResult:
    info = json.loads(info_path.read_text()) if info_path.is_file() else {"fault": {"target": "?", "at": 0}}
    fault = info.get("fault", {})
    left = survivors(info, wait_s)
    cid = info.get("container_id")
    reg = Path(os.environ.get("PTAUDIT_SANDBOX_REGISTRY", str(REGISTRY_DIR)))
    registry_left = bool(cid) and (reg / f"{cid}.json").exists()
    v = run_ptaudit("verify", str(out), timeout=300)
    r = run_ptaudit("report", str(out), "--format", "json", "--no-blobs", timeout=300)
    try:
        rep = json.loads(r.stdout)
        verdict, reason = rep["verdict"], rep.get("verdict_reason")
    except (ValueError, KeyError):
        verdict, reason = f"unreadable report (exit {r.returncode}): {r.stderr.strip()[-200:]}", None
    return FaultResult(target=fault.get("target", "?"), at=float(fault.get("at", 0)),
                       delivered=bool(info.get("delivered")), verify_rc=v.returncode,
                       verify_line=(v.stdout + v.stderr).strip().splitlines()[0] if (v.stdout + v.stderr).strip() else "",
                       verdict=verdict, reason=reason, survivors=left, registry_left=registry_left,
                       torn_tail="torn last line" in v.stdout)


def driver_command(spec: Path) -> list[str]:
    return [sys.executable, "-m", "tests.faults.driver", str(spec)]


def write_spec(path: Path, **spec: Any) -> Path:
    path.write_text(json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in spec.items()}))
    return path


__all__ = ["ROOT", "FaultResult", "check", "driver_command", "survivors", "write_spec"]
