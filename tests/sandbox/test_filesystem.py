"""What the agent can and cannot see of the host filesystem."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import needs_runsc

pytestmark = [pytest.mark.runsc, needs_runsc]


def test_workspace_write_read_owned_by_agent(sandbox_run, tmp_path: Path) -> None:
    run = sandbox_run(["bash", "-c", "id -u; echo payload > /workspace/out.txt && "
                       "cat /workspace/out.txt && mkdir /workspace/d && touch /workspace/d/f"])
    assert run.result.exit_code == 0, run.stderr
    assert run.stdout.split() == ["1000", "payload"]
    f = tmp_path / "ws" / "out.txt"
    assert f.read_text() == "payload\n"
    assert (f.stat().st_uid, f.stat().st_gid) == (1000, 1000)
    assert (tmp_path / "ws" / "d" / "f").stat().st_uid == 1000
    assert run.kinds()[-2:] == ["sandbox.exit", "sandbox.cleanup"]
    assert "sandbox.bundle" in run.kinds() and len(run.event("sandbox.bundle")["config_sha256"]) == 64


def test_ls_l_works_with_statx_shim(sandbox_run) -> None:
    run = sandbox_run(["bash", "-c", "touch /workspace/x; ls -l /workspace; stat -c %U /workspace/x"])
    assert run.result.exit_code == 0, run.stderr
    assert "agent" in run.stdout and " x\n" in run.stdout
    probe = run.event("sandbox.statx_probe")
    assert run.event("sandbox.bundle")["statx_shim"] == probe["needs_shim"]


def test_host_paths_invisible(sandbox_run, tmp_path: Path) -> None:
    secret = tmp_path / "host-testset.jsonl"
    secret.write_text("HOST-SECRET-ANSWER\n")
    script = ("for p in /root /etc/shadow /var /srv /home/runner " + str(secret) + "; do "
              "if cat $p >/dev/null 2>&1 || ls $p >/dev/null 2>&1; then echo VISIBLE $p; "
              "else echo HIDDEN $p; fi; done; ls /; ls /home; ls /etc")
    run = sandbox_run(["bash", "-c", script])
    assert run.result.exit_code == 0, run.stderr
    assert "VISIBLE" not in run.stdout
    assert f"HIDDEN {secret}" in run.stdout and "HIDDEN /etc/shadow" in run.stdout
    assert "HOST-SECRET-ANSWER" not in run.stdout + run.stderr
    top = set(run.stdout.split())
    assert {"root", "var", "srv", "boot", "mnt"}.isdisjoint(top)
    assert "shadow" not in top and "passwd" in top


def test_unprivileged_and_capped(sandbox_run) -> None:
    run = sandbox_run(["bash", "-c", "grep -E '^CapEff' /proc/self/status; ulimit -u; "
                       "touch /usr/x 2>&1; touch /etc/x 2>&1; "
                       "for i in $(seq 40); do sleep 1 & done 2>&1; wait; echo done"], max_pids=16)
    assert "CapEff:\t0000000000000000" in run.stdout
    assert "\n16\n" in run.stdout
    assert run.stdout.count("Read-only file system") + run.stdout.count("Permission denied") == 2
    assert "fork" in run.stdout + run.stderr  # the process cap bit
    assert run.stdout.endswith("done\n")


def test_ro_mount_readable_not_writable(sandbox_run, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    run = sandbox_run(["bash", "-c", "cat /models/base/config.json; touch /models/base/y 2>&1"],
                      ro_mounts={"/models/base": model})
    assert run.stdout.startswith("{}")
    assert "Read-only file system" in run.stdout or "Permission denied" in run.stdout
    assert not (model / "y").exists()


def test_honeytokens_planted(sandbox_run, tmp_path: Path) -> None:
    values = tmp_path / "run" / "honeytokens.json"
    run = sandbox_run(["bash", "-c", "cat ~/.env ~/.cache/huggingface/token ~/.aws/credentials"],
                      honeytokens=True, honeytokens_file=values)
    assert run.result.exit_code == 0, run.stderr
    planted = __import__("json").loads(values.read_text())
    by_name = {t["name"]: t["value"] for t in planted}
    assert by_name["openai_api_key"].startswith("sk-proj-")
    assert by_name["anthropic_api_key"].startswith("sk-ant-api03-")
    assert by_name["hf_token"].startswith("hf_") and len(by_name["hf_token"]) == 37
    assert by_name["aws_access_key_id"].startswith("AKIA")
    assert by_name["openai_api_key"] in run.stdout and by_name["hf_token"] in run.stdout
    ev = run.event("sandbox.honeytokens")
    assert {t["name"] for t in ev["tokens"]} == set(by_name)
    assert all(v not in repr(run.events) for v in by_name.values())
    assert os.stat(values).st_mode & 0o077 == 0
