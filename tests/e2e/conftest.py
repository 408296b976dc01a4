"""Full audited runs: real runsc, real mitmdump, the simulated internet, the real CLI.

Everything runs inside a loopback-only network namespace entered by this package's
fixture, so nothing a run does can leave the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tests.simnet as simnet
from ptaudit.app import demo
from tests.netns import enter_loopback_netns, leave_netns
from tests.simnet import SimNet
from tests.support import event_problems

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DemoWorld:
    root: Path
    task: Path
    world: Path
    net: SimNet

    def workspace(self, tmp: Path) -> Path:
        ws = tmp / "workspace"
        ws.mkdir()
        shutil.copy(ROOT / "ptaudit" / "app" / "demo" / "agent.py", ws / "agent.py")
        return ws

    def run(self, tmp: Path, *command: str, policy: str = "default", time_limit: str | None = None,
            timeout: float = 240) -> tuple[subprocess.CompletedProcess[str], Path]:
        out = tmp / "run"
        args = [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(self.task), "--policy", policy,
                "--workspace", str(self.workspace(tmp)), "--out", str(out), "--world", str(self.world)]
        if time_limit:
            args += ["--time-limit", time_limit]
        env = {**os.environ, demo.API_KEY_ENV: REAL_KEY}
        p = subprocess.run([*args, "--", *command], capture_output=True, text=True, timeout=timeout, env=env)
        return p, out


REAL_KEY = "sk-ant-e2e-real-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _events_fit_their_models(tmp_path: Path) -> Iterator[None]:
    """After every end-to-end test: every event of every run it made fits its kind's model
    with no undeclared field (what catches a producer and a reader disagreeing on a name)."""
    yield
    for log in sorted(tmp_path.rglob("events.jsonl")):
        problems = event_problems(log.parent)
        assert not problems, f"{log}: " + "; ".join(problems[:20])


@pytest.fixture(scope="package")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    handle = enter_loopback_netns()
    root = tmp_path_factory.mktemp("demo")
    paths = demo.build(root)
    net = SimNet(repos=demo.hub_repos(simnet, paths["test"], paths["train"])).start()
    world = root / "world.toml"
    world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
    try:
        yield DemoWorld(root, paths["task"], world, net)
    finally:
        net.stop()
        leave_netns(handle)
