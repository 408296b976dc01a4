"""Test helpers shared by all test packages: tiny run directories built through the real
recorder (no fakes of the log)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ptaudit.core.session import RunSession

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


def event_problems(rundir: Path) -> list[str]:
    """Every event of a run directory that does not fit its kind's model, or carries fields
    the model does not declare (ptaudit.core.events.strict_check), as "seq N: problem"."""
    from ptaudit.core.events import strict_check
    from ptaudit.core.runlog import read_events

    out: list[str] = []
    for ev in read_events(Path(rundir) / "events.jsonl"):
        out += [f"seq {ev.seq}: {p}" for p in strict_check(ev.kind, ev.data)]
    return out


def run_ptaudit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would."""
    return subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (click's runner: the same group, error handling and exit
    codes as ``run_ptaudit``, without a second or two of interpreter start per call)."""
    from click.testing import CliRunner

    from ptaudit.app.cli.main import cli

    res = CliRunner().invoke(cli, list(args), prog_name="ptaudit")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return subprocess.CompletedProcess(["ptaudit", *args], res.exit_code, res.stdout, res.stderr)


def chromium(tmp: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Debian Chromium (installed by make setup), offline flags, fresh profile."""
    exe = shutil.which("chromium")
    assert exe is not None, "chromium missing: apt-get install -y chromium (make setup installs it)"
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={profile}", "--window-size=1400,3000", *args, url],
                          capture_output=True, text=True, timeout=120)
