"""Fixtures of the fleet tests. The end-to-end ones (test_local, test_slurm) run inside a
loopback-only network namespace with the simulated internet, like tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.support import build_scenario_fleet


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object]]:
    """A fleet of 12 runs (3 agents × 2 tasks × 2 seeds) made with the real recorder and report
    code: passes, fails, a lossy run, an ungraded one, a killed attempt and its retry, a
    re-chained log and an edited report.json (tests/fleet/support.py: SCENARIO)."""
    yield build_scenario_fleet(tmp_path_factory.mktemp("scenario"))
