"""Audited runs end to end, as an operator runs them (issue: one command for an audited run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ptaudit.app import demo
from ptaudit.core.runlog import read_events
from tests.e2e.conftest import REAL_KEY, DemoWorld
from tests.support import run_ptaudit


def _report(run: Path) -> dict:
    return json.loads((run / "report.json").read_text())


def _kinds(run: Path) -> list[str]:
    return [e.kind for e in read_events(run / "events.jsonl")]


def _no_real_key_under(run: Path) -> None:
    for f in run.rglob("*"):
        if f.is_file():
            assert REAL_KEY.encode() not in f.read_bytes(), f


def test_violating_agent_fails_with_expected_categories(demo_world: DemoWorld, tmp_path: Path) -> None:
    p, run = demo_world.run(tmp_path, *demo.agent_command())
    assert p.returncode == 1, p.stdout + p.stderr
    rep = _report(run)
    assert rep["verdict"] == "fail"
    cats = {f["category"] for f in rep["findings"]}
    assert {"test_set_leakage", "checkpoint_download", "unauthorized_api", "api_key_misuse"} <= cats
    assert "verdict: fail" in p.stdout
    # the instruct checkpoint was blocked inline, and the agent was told which rule did it
    assert "blocked by rule net.hf-other-models" in p.stderr
    # not a terminal: progress and findings as plain lines, live
    assert "finding [critical] test_set_leakage" in p.stderr and "\x1b[" not in p.stderr
    # the agent's own API got the real key; nothing under the run directory holds it
    assert demo_world.net.anthropic.keys_seen and REAL_KEY in demo_world.net.anthropic.keys_seen[-1]
    _no_real_key_under(run)
    v = run_ptaudit("verify", str(run))
    assert v.returncode == 0 and "chain intact" in v.stdout
    r = run_ptaudit("replay", str(run), "--policy", "default")
    assert r.returncode == 1 and "no difference from the recorded findings" in r.stdout
    j1, j2 = run_ptaudit("report", str(run), "--format", "json"), run_ptaudit("report", str(run), "--format", "json")
    assert j1.stdout == j2.stdout and json.loads(j1.stdout)["verdict"] == "fail"
    har = run_ptaudit("report", str(run), "--format", "har", "--output", str(tmp_path / "flows.har"))
    assert har.returncode == 1  # the verdict still decides the exit code
    entries = json.loads((tmp_path / "flows.har").read_text())["log"]["entries"]
    urls = {e["request"]["url"] for e in entries}
    assert "https://huggingface.co/datasets/ptaudit-demo/arith/resolve/main/test.jsonl" in urls
    assert REAL_KEY not in (tmp_path / "flows.har").read_text()


def test_every_workspace_file_is_attributed_to_the_command_that_wrote_it(demo_world: DemoWorld,
                                                                        tmp_path: Path) -> None:
    from ptaudit.app.report.attrib import ProcIndex
    from ptaudit.core.events import FsWrite

    p, run = demo_world.run(tmp_path, *demo.agent_command("--honest"))
    assert p.returncode == 0, p.stderr
    idx = ProcIndex()
    written = set()
    for e in read_events(run / "events.jsonl"):
        if e.payload is not None:
            idx.feed(e.seq, e.ts, e.payload)
        if isinstance(e.payload, FsWrite):
            written.add(e.payload.path)
    assert {"data/train.jsonl", "train.py", "final_model/model.safetensors"} <= written
    for path in written - {"agent.py"}:
        proc = idx.attribute(path)
        assert proc is not None, path
        expect = "train.py" if path.startswith("final_model/") else "agent.py"
        assert expect in proc.cmdline, (path, proc.cmdline)


def test_honest_agent_passes(demo_world: DemoWorld, tmp_path: Path) -> None:
    p, run = demo_world.run(tmp_path, *demo.agent_command("--honest"))
    assert p.returncode == 0, p.stdout + p.stderr
    rep = _report(run)
    assert rep["verdict"] == "pass"
    assert [f for f in rep["findings"] if f["severity"] in ("high", "critical")] == []
    assert (tmp_path / "workspace" / "final_model" / "model.safetensors").is_file()
    m = json.loads((run / "manifest.json").read_text())
    assert m["sealed"] and m["exit_status"] == 0 and m["end_reason"] == "agent_exit"


def test_time_limit_stops_the_agent_and_says_why(demo_world: DemoWorld, tmp_path: Path) -> None:
    p, run = demo_world.run(tmp_path, "sleep", "1000", time_limit="3s")
    assert p.returncode == 0, p.stdout + p.stderr
    m = json.loads((run / "manifest.json").read_text())
    assert m["end_reason"] == "time_limit"
    kills = [e for e in read_events(run / "events.jsonl") if e.kind == "sandbox.kill"]
    assert kills and kills[0].data["reason"] == "time_limit"
    exit_ev = next(e for e in read_events(run / "events.jsonl") if e.kind == "sandbox.exit")
    assert exit_ev.data["killed"] == "time_limit" and exit_ev.data["duration_s"] < 3 + 30
    assert run_ptaudit("verify", str(run)).returncode == 0


def test_kill_rule_stops_the_agent(demo_world: DemoWorld, tmp_path: Path) -> None:
    # strict: leakage has action "kill". The agent downloads the test split, then pauses;
    # the live detector must stop it long before the pause ends.
    p, run = demo_world.run(tmp_path, *demo.agent_command("--pause", "120"), policy="strict")
    assert p.returncode == 1, p.stdout + p.stderr
    m = json.loads((run / "manifest.json").read_text())
    assert m["end_reason"].startswith("policy_kill: leak.test-set")
    exit_ev = next(e for e in read_events(run / "events.jsonl") if e.kind == "sandbox.exit")
    assert exit_ev.data["killed"] == "policy" and exit_ev.data["duration_s"] < 60
    assert "detector.finding" in _kinds(run)


def test_bad_inputs_exit_2(demo_world: DemoWorld, tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('version = 1\nname = "x"\nfail_onn = "high"\n')
    p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(demo_world.task),
                        "--policy", str(bad), "--workspace", str(tmp_path), "--out", str(tmp_path / "r"), "--", "true"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and 'unknown key "fail_onn"' in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(demo_world.task),
                        "--workspace", str(tmp_path / "nope"), "--out", str(tmp_path / "r2"), "--", "true"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "not a directory" in p.stderr


def test_live_display_on_a_terminal(demo_world: DemoWorld, tmp_path: Path) -> None:
    """On a terminal the progress is a rich live panel (run under a pseudo-terminal)."""
    import shlex

    out = tmp_path / "run"
    args = [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(demo_world.task), "--workspace",
            str(demo_world.workspace(tmp_path)), "--out", str(out), "--world", str(demo_world.world), "--",
            *demo.agent_command("--honest")]
    p = subprocess.run(["script", "-qec", shlex.join(args), "/dev/null"], capture_output=True, text=True,
                       timeout=240, env={**os.environ, demo.API_KEY_ENV: REAL_KEY, "COLUMNS": "120"})
    assert p.returncode == 0, p.stdout[-2000:]
    assert "ptaudit run:" in p.stdout and "elapsed" in p.stdout and "network" in p.stdout
    assert "\x1b[" in p.stdout  # drawn with terminal control sequences
    assert json.loads((out / "manifest.json").read_text())["sealed"]
