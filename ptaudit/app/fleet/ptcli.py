"""How the fleet starts ``ptaudit run`` in a job: through its command line, as an operator
would, in the job's Python environment. One place says how."""

from __future__ import annotations

import sys

MAIN = "ptaudit.app.cli.main"


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", MAIN, *args]
