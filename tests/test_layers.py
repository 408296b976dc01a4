"""The one-way layers of docs/ARCHITECTURE.md, enforced with import-linter's contract in
pyproject.toml: core <- policies <- detectors <- monitors | sandbox <- grading <- app."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

PACKAGES = ("ptaudit", "policies", "detectors", "monitors", "sandbox", "grading")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_layers_contract_holds():
    p = _lint(ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 kept, 0 broken" in p.stdout


def _copy(tmp: Path) -> Path:
    root = tmp / "tree"
    root.mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", root)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The check is not vacuous: core importing a detector, or policies importing the
    detector registry (the cycle this contract was written against), is refused."""
    root = _copy(tmp_path)
    findings = root / "ptaudit" / "core" / "findings.py"
    findings.write_text(findings.read_text() + "\nimport detectors.engine  # noqa\n")
    p = _lint(root)
    assert p.returncode != 0
    assert "ptaudit.core.findings -> detectors.engine" in p.stdout

    root2 = _copy(tmp_path / "b")
    schema = root2 / "policies" / "schema.py"
    schema.write_text(schema.read_text() + "\nfrom detectors.base import REGISTRY  # noqa\n")
    p = _lint(root2)
    assert p.returncode != 0 and "policies.schema -> detectors.base" in p.stdout
