"""The fleet drives ptaudit through its command line, as an operator would: ``ptaudit run``
in jobs, ``ptaudit verify`` and ``ptaudit report`` when collecting. One place says how."""

from __future__ import annotations

import subprocess
import sys

MAIN = "ptaudit.cli.main"


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", MAIN, *args]


def call(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(*args), capture_output=True, text=True, timeout=timeout, check=False)
