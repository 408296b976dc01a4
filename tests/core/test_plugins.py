"""Extensions from outside the tree: a package installed with pip declares a detector and a
monitor in the ``ptaudit.detectors`` / ``ptaudit.monitors`` entry-point groups; a policy
then uses the detector, and ``ptaudit run`` would build the monitor. Nothing in ptaudit
is edited to add them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import ROOT, make_run

PKG = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "ptaudit-example-plugin"
        version = "0.1"

        [project.entry-points."ptaudit.detectors"]
        marker = "ptaudit_example.marker:MarkerFile"

        [project.entry-points."ptaudit.monitors"]
        heartbeat = "ptaudit_example.heartbeat:Heartbeat"
    """,
    "ptaudit_example/__init__.py": "",
    "ptaudit_example/marker.py": '''
        """Flags any workspace file whose name contains a marker (a toy third-party rule)."""
        from pydantic import BaseModel, ConfigDict

        from detectors.base import Detector
        from ptaudit.core.events import FsWrite


        class Params(BaseModel):
            model_config = ConfigDict(extra="forbid")
            marker: str


        class MarkerFile(Detector):
            name = "example.marker"
            Params = Params

            def on_event(self, event):
                p = event.payload
                if isinstance(p, FsWrite) and self.params.marker in p.path:
                    f = self.finding("grader_tampering", p.path, f"marked file {p.path}", [{"seq": event.seq}])
                    if f:
                        yield f
    ''',
    "ptaudit_example/heartbeat.py": '''
        from monitors.base import Monitor


        class Heartbeat(Monitor):
            name = "heartbeat"
            source = "beat"
            lane = 45

            @classmethod
            def from_context(cls, ctx):
                return cls()

            def start(self, record):
                self._record_fn = record

            def stop(self):
                pass
    ''',
}

POLICY = """
version = 1
name = "with-plugin"
[[rules]]
id = "example.marked"
detector = "example.marker"
severity = "high"
[rules.params]
marker = "DO-NOT-TOUCH"
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, really installed (pip) into a private directory."""
    src = tmp_path_factory.mktemp("plugin-src")
    for rel, text in PKG.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(textwrap.dedent(text))
    target = tmp_path_factory.mktemp("plugin-site")
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return target


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    return subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_an_installed_detector_is_used_by_a_policy(site: Path, tmp_path: Path) -> None:
    pol = tmp_path / "policy.toml"
    pol.write_text(POLICY)
    p = _cli(site, "policy", "check", str(pol))
    assert p.returncode == 0, p.stdout + p.stderr
    run = make_run(tmp_path / "run", [("fs", "fs.write", {"path": "eval/DO-NOT-TOUCH.py", "size": 1}),
                                      ("fs", "fs.write", {"path": "train.py", "size": 1})])
    p = _cli(site, "replay", str(run), "--policy", str(pol), "--format", "json")
    assert p.returncode == 1, p.stdout + p.stderr
    (f,) = json.loads(p.stdout)["findings"]
    assert (f["detector"], f["subject"]) == ("example.marker", "eval/DO-NOT-TOUCH.py")


def test_without_the_package_the_policy_is_refused(tmp_path: Path) -> None:
    pol = tmp_path / "policy.toml"
    pol.write_text(POLICY)
    p = _cli(tmp_path, "policy", "check", str(pol))
    assert p.returncode == 2
    assert "unknown detector 'example.marker'" in p.stderr and "(line 6)" in p.stderr


def test_an_installed_monitor_gets_a_lane(site: Path) -> None:
    code = "from monitors.base import MONITORS, lanes; print(sorted(MONITORS), lanes())"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])})
    assert p.returncode == 0, p.stderr
    assert "'heartbeat'" in p.stdout and "'beat'" in p.stdout
