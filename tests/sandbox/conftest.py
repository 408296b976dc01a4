"""Fixtures for sandbox tests: a runner that collects events and agent output."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox, SandboxConfig, SandboxResult


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "runsc: needs gVisor runsc and root")


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
class Run:
    result: SandboxResult
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]

    def event(self, kind: str) -> dict[str, Any]:
        return next(d for k, d in self.events if k == kind)


def run_in_sandbox(tmp: Path, command: list[str], **cfg: Any) -> Run:
    """Run command in a fresh sandbox (workspace tmp/ws unless given)."""
    if "workspace" not in cfg:
        cfg["workspace"] = tmp / "ws"
        cfg["workspace"].mkdir(exist_ok=True)
    events: list[tuple[str, dict[str, Any]]] = []
    out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    sb = Sandbox(SandboxConfig(command=command, **cfg), lambda k, d: events.append((k, d)),
                 tmp / "state", output=lambda s, b: out[s].append(b),
                 registry_dir=tmp / "registry")
    result = sb.run()
    return Run(result, events, b"".join(out["stdout"]).decode(errors="replace"),
               b"".join(out["stderr"]).decode(errors="replace"))


@pytest.fixture
def sandbox_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    def _run(command: list[str], **cfg: Any) -> Run:
        return run_in_sandbox(tmp_path, command, **cfg)
    return _run
