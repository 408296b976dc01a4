"""Crash safety: a record per live sandbox, and cleanup of those whose owner died.

A SIGKILLed orchestrator cannot run its `finally`; the runsc sandbox (and
possibly its relay) outlive it. Each Sandbox writes
/run/ptaudit/sandboxes/<id>.json before starting anything, and removes it
after cleanup. cleanup_stale() finishes the job for dead owners. Pids are
matched with their start time so a recycled pid is never killed.
"""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import psutil
from pydantic import BaseModel

from .runsc import Runsc

REGISTRY_DIR = Path(os.environ.get("PTAUDIT_SANDBOX_REGISTRY", "/run/ptaudit/sandboxes"))


class ProcRef(BaseModel):
    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcRef:
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())

    def alive(self) -> psutil.Process | None:
        try:
            p = psutil.Process(self.pid)
            if abs(p.create_time() - self.create_time) < 0.01 and \
                    p.status() != psutil.STATUS_ZOMBIE:
                return p
        except psutil.Error:
            pass
        return None


class Record(BaseModel):
    """What cleanup needs to tear a sandbox down without its owner."""

    container_id: str
    runsc_root: str
    run_dir: str          # per-run dir (bundle, home, socket), removed at cleanup
    runsc_binary: str | None = None  # the runsc that created it (kill/delete with the same one)
    owner: ProcRef
    runsc: ProcRef | None = None
    relay: ProcRef | None = None


def write(rec: Record, registry: Path = REGISTRY_DIR) -> None:
    registry.mkdir(parents=True, exist_ok=True)
    tmp = registry / f".{rec.container_id}.tmp"
    tmp.write_text(rec.model_dump_json())
    os.replace(tmp, registry / f"{rec.container_id}.json")


def remove(cid: str, registry: Path = REGISTRY_DIR) -> None:
    (registry / f"{cid}.json").unlink(missing_ok=True)


def teardown(rec: Record) -> None:
    """Kill and delete everything a record names; safe to repeat."""
    for ref in (rec.relay, rec.runsc):
        proc = ref.alive() if ref else None
        if proc is not None:
            try:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=5)
            except psutil.Error:
                pass
    root = Path(rec.runsc_root)
    if root.is_dir():
        binary = rec.runsc_binary if rec.runsc_binary and Path(rec.runsc_binary).is_file() else None
        r = Runsc(root, binary=binary)
        r.kill(rec.container_id, "KILL")
        r.delete(rec.container_id)
    shutil.rmtree(rec.run_dir, ignore_errors=True)


def cleanup_stale(registry: Path = REGISTRY_DIR) -> list[str]:
    """Tear down sandboxes whose owner process is gone; return their container ids."""
    cleaned: list[str] = []
    if not registry.is_dir():
        return cleaned
    for path in sorted(registry.glob("*.json")):
        try:
            rec = Record.model_validate_json(path.read_text())
        except (OSError, ValueError):
            continue  # being written, or not ours: leave it
        if rec.owner.alive() is not None:
            continue
        teardown(rec)
        remove(rec.container_id, registry)
        cleaned.append(rec.container_id)
    return cleaned
