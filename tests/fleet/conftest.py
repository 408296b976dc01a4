"""Fixtures of the fleet tests. The end-to-end ones (test_local, test_slurm) run inside a
loopback-only network namespace with the simulated internet, like tests/e2e."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tests.simnet as simnet
from ptaudit.app import demo
from tests.fleet.slurmcluster import addrconfig_address
from tests.fleet.support import build_scenario_fleet, demo_inputs, grade_tail, plan_text
from tests.netns import enter_loopback_netns, leave_netns
from tests.simnet import SimNet


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object]]:
    """A fleet of 12 runs (3 agents × 2 tasks × 2 seeds) made with the real recorder and report
    code: passes, fails, a lossy run, an ungraded one, a killed attempt and its retry, a
    re-chained log and an edited report.json (tests/fleet/support.py: SCENARIO)."""
    yield build_scenario_fleet(tmp_path_factory.mktemp("scenario"))


REAL_KEY = "sk-ant-fleet-real-key-0123456789abcdef"


@dataclass
class FleetWorld:
    """The demo task and agent, the simulated internet, and a world file mapping to it."""

    root: Path
    inputs: dict[str, Path]
    world: Path
    net: SimNet
    env: dict[str, str]

    def plan(self, name: str, agents: dict[str, list[str]], tasks: list[dict], **kw: object) -> Path:
        """A plan over the demo agent with the given extra arguments per agent."""
        d = self.root / name
        d.mkdir()
        text = plan_text(name=name, agents=[{"name": a, "workspace": str(self.inputs["agent"]),
                                             "command": demo.agent_command(*flags)} for a, flags in agents.items()],
                         tasks=[{"file": str(self.inputs["task"]), **t} for t in tasks],
                         extra=f'world = "{self.world}"\ntime_limit = "3m"\n' + str(kw.pop("extra", "")),
                         tail=grade_tail(self.inputs["test_set"]), **kw)  # type: ignore[arg-type]
        (d / "plan.toml").write_text(text)
        return d / "plan.toml"


@pytest.fixture(scope="package")
def fleet_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetWorld]:
    handle = enter_loopback_netns()
    addrconfig_address()  # Slurm's name lookups need one non-loopback IPv4 address in the namespace
    root = tmp_path_factory.mktemp("fleet-world")
    inputs = demo_inputs(root / "inputs")
    net = SimNet(repos=demo.hub_repos(simnet, inputs["test"], inputs["train"])).start()
    world = root / "world.toml"
    world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
    try:
        yield FleetWorld(root, inputs, world, net, {**os.environ, demo.API_KEY_ENV: REAL_KEY})
    finally:
        net.stop()
        leave_netns(handle)
