"""Limits, stopping, errors and crash cleanup."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sandbox import SandboxConfig, SandboxError, cleanup_stale
from sandbox.runsc import Runsc

from .conftest import needs_runsc, run_in_sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.runsc
@needs_runsc
def test_time_limit_terminates(sandbox_run) -> None:
    run = sandbox_run(["sleep", "1000"], time_limit_s=1.5, grace_s=5)
    assert run.result.killed == "time_limit"
    assert run.result.duration_s < 1.5 + 5, run.result  # TERM was enough: within the grace
    assert run.result.signal == signal.SIGTERM
    kills = [d for k, d in run.events if k == "sandbox.kill"]
    assert kills[0]["reason"] == "time_limit" and kills[0]["signal"] == "TERM"
    assert run.event("sandbox.exit")["killed"] == "time_limit"


@pytest.mark.runsc
@needs_runsc
def test_time_limit_kills_term_ignorer_after_grace(sandbox_run) -> None:
    run = sandbox_run(["bash", "-c", "trap '' TERM; while :; do sleep 0.2; done"],
                      time_limit_s=1, grace_s=1.5)
    assert run.result.killed == "time_limit"
    assert 2.4 <= run.result.duration_s < 10
    assert [d["signal"] for k, d in run.events if k == "sandbox.kill"] == ["TERM", "KILL"]


@pytest.mark.runsc
@needs_runsc
def test_workspace_size_cap(sandbox_run) -> None:
    run = sandbox_run(["bash", "-c", "head -c 4000000 /dev/zero > /workspace/big; sleep 100"],
                      workspace_max_bytes=1_000_000, workspace_check_s=0.3, grace_s=2)
    assert run.result.killed == "workspace_size"
    ev = run.event("sandbox.workspace_size")
    assert ev["bytes"] > 1_000_000 and ev["limit"] == 1_000_000
    assert run.result.duration_s < 20


@pytest.mark.runsc
@needs_runsc
def test_owner_sigkill_then_cleanup_stale(tmp_path: Path) -> None:
    reg = tmp_path / "registry"
    (tmp_path / "ws").mkdir()
    env = {**os.environ, "PTAUDIT_SANDBOX_REGISTRY": str(reg), "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "run", "--workspace", str(tmp_path / "ws"),
         "--state-dir", str(tmp_path / "state"), "--proxy-target", "127.0.0.1:9", "--",
         "sleep", "1000"], stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert owner.stderr is not None
    for line in owner.stderr:  # wait for the container to start
        if b'"sandbox.start"' in line:
            break
    time.sleep(1)
    rec = json.loads(next(reg.glob("*.json")).read_text())
    cid, root = rec["container_id"], Path(rec["runsc_root"])
    assert cid in Runsc(root).list_ids()
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert cleanup_stale(reg) == [cid]
    assert not root.exists() or cid not in Runsc(root).list_ids()
    assert not list(reg.glob("*.json"))
    for key in ("relay", "runsc"):
        assert not psutil.pid_exists(rec[key]["pid"]) or \
            psutil.Process(rec[key]["pid"]).create_time() != rec[key]["create_time"]
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"])
                 if any(cid in a for a in (p.info["cmdline"] or []))]
    assert leftovers == []
    assert cleanup_stale(reg) == []


@pytest.mark.runsc
@needs_runsc
def test_bad_workspace_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SandboxError) as err:
        run_in_sandbox(tmp_path, ["true"], workspace=tmp_path / "nope" / "ws")
    assert err.value.exit_code == 2 and str(tmp_path / "nope" / "ws") in err.value.message


@pytest.mark.runsc
@needs_runsc
def test_missing_mount_source_names_it(tmp_path: Path) -> None:
    with pytest.raises(SandboxError) as err:
        run_in_sandbox(tmp_path, ["true"], ro_mounts={"/models/base": tmp_path / "missing"})
    assert err.value.exit_code == 2 and str(tmp_path / "missing") in err.value.message


@pytest.mark.runsc
@needs_runsc
def test_gpu_needs_newer_runsc(tmp_path: Path) -> None:
    from sandbox import runsc
    old = Path("/usr/bin/runsc")
    if not old.is_file() or runsc.supports_flag("nvproxy", str(old)):
        pytest.skip("no runsc without --nvproxy on this machine (Debian 12's runsc 2022-12)")
    with pytest.raises(SandboxError) as err:
        run_in_sandbox(tmp_path, ["true"], gpu=True, runsc=old)
    assert err.value.exit_code == 3 and "release-20230529" in err.value.message


def test_runsc_missing_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.runsc
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PTAUDIT_RUNSC", raising=False)
    monkeypatch.setattr(sandbox.runsc, "PINNED_BINARY", tmp_path / "no-pinned-runsc")
    with pytest.raises(SandboxError) as err:
        run_in_sandbox(tmp_path, ["true"])
    assert err.value.exit_code == 3 and "make setup" in err.value.message


def test_not_root_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not __import__("shutil").which("runsc"):
        pytest.skip("runsc missing is reported first")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError) as err:
        run_in_sandbox(tmp_path, ["true"])
    assert err.value.exit_code == 3 and "root" in err.value.message


def test_config_rejects_unknown_keys_and_relative_targets() -> None:
    with pytest.raises(ValueError):
        SandboxConfig(command=["true"], workspace=Path("/tmp"), wrokspace=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        SandboxConfig(command=["true"], workspace=Path("/tmp"), ro_mounts={"models": Path("/")})
    with pytest.raises(ValueError):
        SandboxConfig(command=["true"], workspace=Path("/tmp"), proxy_target="nohost")


@pytest.mark.runsc
@needs_runsc
def test_failing_event_sink_stops_the_agent(tmp_path: Path) -> None:
    from sandbox import Sandbox
    (tmp_path / "ws").mkdir()

    def emit(kind: str, data: dict[str, object]) -> None:
        if kind == "sandbox.start":
            raise OSError("disk full")
    sb = Sandbox(SandboxConfig(command=["sleep", "1000"], workspace=tmp_path / "ws", grace_s=1),
                 emit, tmp_path / "state", output=lambda s, b: None, registry_dir=tmp_path / "reg")
    t = time.monotonic()
    with pytest.raises(SandboxError) as err:
        sb.run()
    assert "disk full" in err.value.message and time.monotonic() - t < 15
    assert not sb.run_dir.exists() and not list((tmp_path / "reg").glob("*.json"))
