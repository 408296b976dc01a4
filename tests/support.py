"""Test helpers shared by all test packages: tiny run directories built through the real
recorder (no fakes of the log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ptaudit.session import RunSession

ROOT = Path(__file__).resolve().parent.parent


def make_run(out: Path, events: list[tuple[str, str, dict[str, Any]]] | None = None,
             blobs: list[bytes] | None = None) -> Path:
    """A sealed run directory with the given (source, kind, data) events and blobs."""
    with RunSession.create(out, command=["true"]) as s:
        for b in blobs or []:
            sha = s.rundir.blobs.put(b)
            s.emit("net", "net.response", {"url": "https://example.test/x", "sha256": sha, "blobs": [sha]})
        for source, kind, data in events or []:
            s.emit(source, kind, data)
    return out


def run_ptaudit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would."""
    return subprocess.run([sys.executable, "-m", "ptaudit.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)
