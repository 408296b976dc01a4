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
from ptaudit.core.events import EventData, parse_payload, strict_check


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
    """A thread-safe ``record(event)`` that keeps everything as (source, kind, data), as it
    would be logged. Every event must fit its kind's model with no undeclared field: a
    misfit raises here, which makes the producing monitor unhealthy (tests check that)."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, ev: EventData) -> None:
        data = ev.to_data()
        problems = strict_check(ev.KIND, data)
        assert not problems, problems
        with self.lock:
            self.events.append((ev.SOURCE, ev.KIND, data))

    def sandbox(self, kind: str, data: dict[str, Any]) -> None:
        """The sandbox's own (kind, data) callback, checked against the same catalogue."""
        ev = parse_payload(kind, data)
        assert ev is not None, f"no payload model for {kind}"
        self(ev)

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
                 getattr(emit, "sandbox", lambda k, d: None), tmp / "state", output=lambda s, b: None,
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
