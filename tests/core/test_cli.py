"""The CLI as users see it."""

from __future__ import annotations

from tests.support import run_ptaudit


def test_help_lists_verbs() -> None:
    p = run_ptaudit("--help")
    assert p.returncode == 0
    for verb in ("verify", "policy", "doctor"):
        assert verb in p.stdout


def test_doctor_on_this_machine() -> None:
    # `make test` ran setup, so everything essential is present: exit 0 and a table.
    p = run_ptaudit("doctor", env={"COLUMNS": "200"})
    assert p.returncode == 0, p.stdout + p.stderr
    for name in ("python", "root", "runsc", "runsc --host-uds", "statx probe", "mitmproxy", "inotify", "gpu"):
        assert f"│ {name} " in p.stdout, name
    assert "0.0~20221219" in p.stdout or "runsc" in p.stdout
    # no GPU on CI machines: reported as a warning with the reason, not a failure
    gpu_row = next(line for line in p.stdout.splitlines() if line.startswith("│ gpu "))
    assert "ok" in gpu_row or "warn" in gpu_row


def test_unknown_verb_is_usage_error() -> None:
    p = run_ptaudit("frobnicate")
    assert p.returncode == 2 and "No such command" in p.stderr
