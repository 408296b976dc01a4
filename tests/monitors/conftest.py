"""Helpers for monitor tests: an event collector and a sandbox run with monitors attached."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from monitors.base import Monitor
from monitors.trace_sink import TraceSink, TraceSinkConfig


def runsc_available() -> bool:
    from sandbox.config import SandboxError
    from sandbox.runsc import find_runsc
    try:
        find_runsc()
    except SandboxError:
        return False
    return os.geteuid() == 0


needs_runsc = pytest.mark.skipif(not runsc_available(), reason="needs runsc and root")


@dataclass
class Collector:
    """A thread-safe emit(source, kind, data) that keeps everything."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, source: str, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((source, kind, data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for _, k, d in self.events if k == kind]

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.events]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short private directory (Unix socket paths are limited to 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="ptm-", dir="/tmp"))
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_sandboxed(tmp: Path, command: list[str], emit: Any, monitors: list[Monitor] = (),  # type: ignore[assignment]
                  trace: TraceSink | None = None, workspace: Path | None = None,
                  on_start: Any = None, **cfg: Any) -> Any:
    """Start monitors (and the trace sink), run command in a sandbox, stop them; returns the result."""
    from sandbox import Sandbox, SandboxConfig

    ws = workspace or tmp / "ws"
    ws.mkdir(exist_ok=True)
    flags: list[str] = []
    if trace is not None:
        flags = trace.runsc_flags(tmp / "pod-init.json")
        trace.start(emit)
    for m in monitors:
        m.start(emit)
    sb = Sandbox(SandboxConfig(command=command, workspace=ws, runsc_flags=flags, **cfg),
                 lambda k, d: emit("sandbox", k, d), tmp / "state", output=lambda s, b: None,
                 registry_dir=tmp / "registry")
    if on_start is not None:
        on_start(sb)
    try:
        return sb.run()
    finally:
        if trace is not None:
            trace.stop()


def trace_sink(d: Path, **kw: Any) -> TraceSink:
    return TraceSink(TraceSinkConfig(socket_path=d / "trace.sock", **kw))
