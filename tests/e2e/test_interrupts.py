"""Operators stop runs: Ctrl-C twice still leaves a verifiable run; SIGKILL leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from ptaudit.app import demo
from tests.e2e.conftest import REAL_KEY, DemoWorld
from tests.support import run_ptaudit


def _start(w: DemoWorld, tmp: Path, *cmd: str) -> tuple[subprocess.Popen[str], Path]:
    out = tmp / "run"
    args = [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(w.task), "--workspace",
            str(w.workspace(tmp)), "--out", str(out), "--world", str(w.world), "--", *cmd]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, demo.API_KEY_ENV: REAL_KEY})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ev = out / "events.jsonl"
        if ev.exists() and b'"kind":"sandbox.start"' in ev.read_bytes():
            return p, out
        assert p.poll() is None, p.communicate()
        time.sleep(0.1)
    raise AssertionError("sandbox never started")


def test_two_ctrl_c_leave_a_verifiable_sealed_run(demo_world: DemoWorld, tmp_path: Path) -> None:
    # The agent ignores SIGTERM, so only the second Ctrl-C's immediate kill ends it quickly.
    p, run = _start(demo_world, tmp_path, "/usr/bin/python3", "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                    "open('/workspace/ready', 'w').close(); time.sleep(1000)")
    deadline = time.monotonic() + 30
    while not (tmp_path / "workspace" / "ready").exists():  # TERM is ignored only from here on
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    m = json.loads((run / "manifest.json").read_text())
    assert m["sealed"] and m["end_reason"] == "interrupted", (out, err)
    assert p.returncode == 3 and "verdict: incomplete: the run ended abnormally: interrupted" in out, (out, err)
    v = run_ptaudit("verify", str(run))  # intact and sealed, but the audit did not complete
    assert v.returncode == 3 and "sealed" in v.stdout and "audit: incomplete" in v.stdout
    kinds = [json.loads(line)["kind"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert kinds.count("run.interrupted") == 2 and "sandbox.exit" in kinds, (kinds, err[-2000:])


def test_sigkill_leaves_nothing_after_next_start(demo_world: DemoWorld, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    p, _ = _start(demo_world, tmp_path / "a", "sleep", "1000")
    children = psutil.Process(p.pid).children(recursive=True)  # mitmdump, relay, runsc and its helpers
    assert any("mitmdump" in " ".join(c.cmdline()) for c in children)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    # the proxy and runsc die with their parent (PDEATHSIG), the warden tears the sandbox down;
    # a next start (which also runs cleanup_stale) finds nothing left
    (tmp_path / "b").mkdir()
    q, run2 = _start(demo_world, tmp_path / "b", "true")
    q.communicate(timeout=60)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        time.sleep(0.2)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [(c.pid, c.cmdline()[:4]) for c in alive]
    assert json.loads((run2 / "manifest.json").read_text())["sealed"]
