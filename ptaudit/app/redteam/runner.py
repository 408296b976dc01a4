"""Running scenarios: each one a real ``ptaudit run`` of its agent in the sandbox, against
its own copy of the simulated internet, under one policy, bounded in time.

The simulated internet and the base world live in the source tree (tests/simnet,
tests/scenarios/world.py), like the demo's: the suite needs a checkout.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from detectors import load_policy
from policies import SHIPPED, resolve
from ptaudit.core.errors import InputError
from ptaudit.core.events import NetRequest
from ptaudit.core.runlog import read_events
from ptaudit.core.units import parse_duration

from .scenario import Scenario, merge

REPO = Path(__file__).resolve().parents[3]
MARGIN_S = 150.0  # start-up, final scans and reports on a busy 2-core machine, beyond the agent's limit
TAIL = 4000


@dataclass(frozen=True)
class PolicyRef:
    label: str  # a shipped name, or the file's stem
    path: Path
    fail_on: str


def policy_ref(arg: str) -> PolicyRef:
    """A shipped policy name or a policy file, validated now (a bad file is exit 2 before any run)."""
    path = resolve(arg)
    pol = load_policy(path)
    return PolicyRef(arg if arg in SHIPPED else path.stem, path.resolve(), pol.fail_on)


def world_module(scenarios: Path | None = None) -> ModuleType:
    """tests/scenarios/world.py (and with it tests/simnet) from the source checkout."""
    need = [REPO / "tests" / "simnet" / "__init__.py", REPO / "tests" / "scenarios" / "world.py"]
    missing = [str(p.relative_to(REPO)) for p in need if not p.is_file()]
    if missing:
        raise InputError(f"the scenario suite needs a ptaudit source checkout (missing {', '.join(missing)} under "
                         f"{REPO}): run it from a clone of the repository")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import tests.scenarios.world as world

    return world


def default_scenarios() -> Path:
    return REPO / "tests" / "scenarios"


def loader_context(world: ModuleType) -> dict[str, Any]:
    """What scenario files are validated against: the base task and the artifact names."""
    return {"base_task": world.base_task_table(), "artifacts": set(world.artifacts())}


@dataclass
class Outcome:
    """What one run of one scenario under one policy showed."""

    scenario: str
    policy: str
    seconds: float
    exit_code: int | None
    verdict: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    error: str | None = None
    rundir: str = ""


def _command(scn: Scenario) -> list[str]:
    agent = f"/workspace/.scenario/{scn.agent}"
    if scn.agent.endswith(".py"):
        return ["/usr/bin/python3", "-u", agent]
    return ["/bin/sh", "-c", f"cd /workspace && exec /bin/sh {agent}"]


def _write_task(world: ModuleType, scn: Scenario, task_dir: Path) -> tuple[Path, float]:
    import tomli_w

    world.write_task_files(task_dir)
    table = merge(world.base_task_table(), scn.task)
    path = task_dir / "task.toml"
    path.write_text(tomli_w.dumps(table))
    return path, parse_duration(table.get("time_limit", "60s"))


def _workspace(world: ModuleType, scn: Scenario, ws: Path) -> None:
    world.prepare_workspace(ws)
    extra = scn.dir / "workspace"
    if extra.is_dir():
        shutil.copytree(extra, ws, dirs_exist_ok=True)
    shutil.copy(scn.dir / scn.agent, ws / ".scenario" / scn.agent)


def _stop(p: subprocess.Popen[bytes]) -> None:
    """SIGINT first (ptaudit stops the agent, seals the log, writes reports), then SIGKILL."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_one(world: ModuleType, scn: Scenario, pol: PolicyRef, root: Path, keep: bool = False) -> Outcome:
    """One audited run in ``root`` (task/, workspace/, run/, world.toml, ptaudit.log)."""
    t0 = time.monotonic()
    root.mkdir(parents=True)
    task, limit = _write_task(world, scn, root / "task")
    ws = root / "workspace"
    _workspace(world, scn, ws)
    net = world.World.build(scn.world, scn.dir).start()
    log = root / "ptaudit.log"
    try:
        world_file = net.write(root / "world.toml")
        args = [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(task), "--policy", str(pol.path),
                "--workspace", str(ws), "--out", str(root / "run"), "--world", str(world_file), "--", *_command(scn)]
        env = {**os.environ, world.KEY_ENV: "sk-ant-redteam-" + secrets.token_hex(16)}
        with open(log, "wb") as fh:
            p = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
            try:
                p.wait(timeout=limit + MARGIN_S)
            except subprocess.TimeoutExpired:
                _stop(p)
                fh.write(f"\nredteam: ptaudit run still going {limit + MARGIN_S:.0f}s after start: stopped\n".encode())
    finally:
        net.stop()
    out = Outcome(scn.name, pol.label, round(time.monotonic() - t0, 1), p.returncode, rundir=str(root / "run"))
    _read_run(out, root / "run", log)
    if not keep:
        shutil.rmtree(ws, ignore_errors=True)
    return out


def _read_run(out: Outcome, rundir: Path, log: Path) -> None:
    """The run as its report shows it. A report whose verdict is not pass or fail (an
    incomplete audit) is judged like any other: its findings still count, and a benign
    run is clean only with the verdict pass. No report at all is an error."""
    try:
        rep = json.loads((rundir / "report.json").read_text())
    except (OSError, ValueError):
        tail = log.read_bytes()[-TAIL:].decode(errors="replace") if log.exists() else ""
        out.error = f"no report.json (ptaudit run exit {out.exit_code}): " + tail.strip().splitlines()[-1:][0] \
            if tail.strip() else f"no report.json (ptaudit run exit {out.exit_code})"
        return
    out.verdict = rep.get("verdict")
    out.findings = [{k: f.get(k) for k in ("category", "severity", "rule", "subject", "message")}
                    for f in rep.get("findings", [])]
    try:
        out.blocked = sorted({e.payload.url for e in read_events(rundir / "events.jsonl")
                              if isinstance(e.payload, NetRequest) and e.payload.blocked})
    except Exception as exc:  # noqa: BLE001 - a damaged log is reported, the suite goes on
        out.error = f"events.jsonl unreadable: {exc}"


def run_all(world: ModuleType, scenarios: list[Scenario], policies: list[PolicyRef], workdir: Path, jobs: int,
            keep: bool = False, on_done: Callable[[Outcome, int, int], None] | None = None) -> list[Outcome]:
    """Every (scenario, policy) pair, ``jobs`` at a time; outcomes in suite order."""
    pairs = [(s, p) for p in policies for s in scenarios]
    done, lock = [0], threading.Lock()

    def one(pair: tuple[Scenario, PolicyRef]) -> Outcome:
        s, p = pair
        try:
            o = run_one(world, s, p, workdir / p.label / s.name, keep)
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the suite
            o = Outcome(s.name, p.label, 0.0, None, error=f"{type(exc).__name__}: {exc}")
        with lock:
            done[0] += 1
            if on_done is not None:
                on_done(o, done[0], len(pairs))
        return o

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        return list(ex.map(one, pairs))
