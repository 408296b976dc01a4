"""Never a silent pass, and the agent never outlives ptaudit: each failure the reliability
audit found (issue 11), reproduced through the real CLI, real runsc and mitmdump, inside
the loopback-only namespace of this package."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from ptaudit.app import demo
from tests.e2e.conftest import REAL_KEY, DemoWorld
from tests.faults.checks import survivors
from tests.support import ROOT, run_ptaudit

TICKER = ("import time\n"
          "while True:\n"
          "    with open('/workspace/tick', 'a') as fh: fh.write(f'{time.time():.3f}\\n')\n"
          "    time.sleep(0.1)\n")


def _args(w: DemoWorld, tmp: Path, *cmd: str, extra: tuple[str, ...] = (), task: Path | None = None,
          world: Path | None = None, out: Path | None = None) -> tuple[list[str], Path]:
    out = out or tmp / "run"
    ws = tmp / "workspace"
    ws.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(task or w.task), "--workspace",
            str(ws), "--out", str(out), "--world", str(world or w.world), *extra, "--", *cmd]
    return args, out


def _start(w: DemoWorld, tmp: Path, *cmd: str, **kw: object) -> tuple[subprocess.Popen[str], Path]:
    args, out = _args(w, tmp, *cmd, **kw)  # type: ignore[arg-type]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, demo.API_KEY_ENV: REAL_KEY})
    ready = tmp / "workspace" / "tick"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if ready.exists() and ready.stat().st_size > 0:
            return p, out
        assert p.poll() is None, p.communicate()
        time.sleep(0.1)
    raise AssertionError("the agent never started")


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines() if line.endswith(b"}")]


def _container(run: Path) -> str:
    return next(e["data"]["container_id"] for e in _events(run) if e["kind"] == "sandbox.start")


def _report(run: Path) -> tuple[int, dict]:
    r = run_ptaudit("report", str(run), "--format", "json")
    return r.returncode, json.loads(r.stdout)


def test_sigkill_of_ptaudit_stops_the_agent_within_seconds(demo_world: DemoWorld, tmp_path: Path) -> None:
    p, run = _start(demo_world, tmp_path, "/usr/bin/python3", "-c", TICKER)
    procs = [{"pid": c.pid, "create_time": c.create_time()} for c in psutil.Process(p.pid).children(recursive=True)]
    cid = _container(run)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    killed = time.time()
    p.wait(10)
    tick = tmp_path / "workspace" / "tick"
    time.sleep(5)
    size = tick.stat().st_size
    last = float(tick.read_text().split()[-1])
    assert last - killed < 3.0, f"the agent kept writing {last - killed:.1f}s after ptaudit was killed"
    time.sleep(2)
    assert tick.stat().st_size == size, "the agent is still writing"
    # runsc, the sandbox, relay, mitmdump and the warden itself: all gone, without any later ptaudit
    left = survivors({"container_id": cid, "pids": {f"child{i}": r for i, r in enumerate(procs)}}, wait_s=15)
    assert left == [], left
    registry = Path(os.environ.get("PTAUDIT_SANDBOX_REGISTRY", "/run/ptaudit/sandboxes"))
    assert not (registry / f"{cid}.json").exists()
    v = run_ptaudit("verify", str(run))
    assert v.returncode == 3 and "chain intact" in v.stdout and "never sealed" in v.stdout, v.stdout
    rc, rep = _report(run)
    assert rc == 3 and rep["verdict"] == "incomplete" and "never sealed" in rep["verdict_reason"]
    text = run_ptaudit("report", str(run))
    assert text.returncode == 3 and text.stdout.splitlines()[0].strip().startswith("INCOMPLETE") \
        and "never sealed" in text.stdout.splitlines()[0], text.stdout


def test_sigterm_is_a_graceful_stop_sealed_and_incomplete(demo_world: DemoWorld, tmp_path: Path) -> None:
    p, run = _start(demo_world, tmp_path, "/usr/bin/python3", "-c", TICKER)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=90)
    assert p.returncode == 3, (out, err)
    assert out.splitlines()[0] == "verdict: incomplete: the run ended abnormally: interrupted", out
    m = json.loads((run / "manifest.json").read_text())
    assert m["sealed"] and m["end_reason"] == "interrupted" and m["exit_status"] == 3
    rj = json.loads((run / "report.json").read_text())
    assert rj["verdict"] == "incomplete" and rj["run"]["exit_status"] == 3 and set(m["artifacts"]) >= {
        "report.json", "report.html", "findings.jsonl", "honeytokens.json"}
    ev = _events(run)
    assert [e["data"].get("signal") for e in ev if e["kind"] == "run.interrupted"] == ["SIGTERM"]
    assert [e["data"]["signal"] for e in ev if e["kind"] == "sandbox.kill"] == ["TERM"]  # polite
    start = next(e["data"] for e in ev if e["kind"] == "run.start")
    assert start["test_sets"][0]["items"] == 60 and start["test_sets"][0]["fields"] == {"question": 60}
    assert run_ptaudit("verify", str(run)).returncode == 3
    assert _report(run)[0] == 3


def test_second_sigterm_kills_without_grace_but_seals(demo_world: DemoWorld, tmp_path: Path) -> None:
    agent = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + TICKER
    p, run = _start(demo_world, tmp_path, "/usr/bin/python3", "-c", agent)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3 and time.monotonic() - t < 25, (out, err)  # well inside the policy's 30 s grace
    m = json.loads((run / "manifest.json").read_text())
    assert m["sealed"] and m["end_reason"] == "interrupted"
    kills = [e["data"]["signal"] for e in _events(run) if e["kind"] == "sandbox.kill"]
    assert kills[-1] == "KILL"
    assert run_ptaudit("verify", str(run)).returncode == 3


def test_agent_command_not_found_is_incomplete(demo_world: DemoWorld, tmp_path: Path) -> None:
    args, run = _args(demo_world, tmp_path, "/no/such/agent")
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, demo.API_KEY_ENV: REAL_KEY})
    assert p.returncode == 3, p.stdout + p.stderr
    assert "could not be run (exit 127" in p.stdout.splitlines()[0], p.stdout
    rc, rep = _report(run)
    assert rc == 3 and rep["verdict"] == "incomplete"


def test_proxy_that_never_started_reads_incomplete(demo_world: DemoWorld, tmp_path: Path) -> None:
    # mitmdump crashes at start (a sitecustomize on its PYTHONPATH kills it; ptaudit, the
    # relay and the warden are unaffected).
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os, sys\nif 'mitmdump' in sys.argv[0]:\n    os._exit(3)\n")
    args, run = _args(demo_world, tmp_path, "true")
    env = {**os.environ, demo.API_KEY_ENV: REAL_KEY, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 3 and "Traceback" not in p.stderr, p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("ptaudit: error:")]
    assert len(errors) == 1 and "mitmdump" in errors[0] and "failed to start" in errors[0], p.stderr
    m = json.loads((run / "manifest.json").read_text())
    assert m["sealed"] and m["exit_status"] == 3 and m["end_reason"].startswith("error:")
    rc, rep = _report(run)
    assert rc == 3 and rep["verdict"] == "incomplete" and "mitmdump" in rep["verdict_reason"]
    err = next(e["data"] for e in _events(run) if e["kind"] == "run.error")
    assert err.get("detail") is not None  # mitmdump's log, kept in the log (its file is gone)
    assert REAL_KEY not in p.stdout + p.stderr


def test_disk_full_stops_the_agent_and_ends_incomplete(demo_world: DemoWorld, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(small)], check=True)
    try:
        # Files of 64 KiB, each different: their blobs fill the run directory, then the log.
        agent = ("import time, os\n"
                 "t = time.time()\n"
                 "for i in range(100000):\n"
                 "    with open(f'/workspace/f{i % 400}', 'wb') as fh: fh.write(os.urandom(65536))\n"
                 "    with open('/workspace/tick', 'a') as fh: fh.write(f'{time.time():.3f}\\n')\n"
                 "    time.sleep(0.02)\n"
                 "    if time.time() - t > 90: break\n")
        args, run = _args(demo_world, tmp_path, "/usr/bin/python3", "-c", agent, out=small / "run",
                          extra=("--min-free", "2MiB"))
        t = time.monotonic()
        p = subprocess.run(args, capture_output=True, text=True, timeout=240,
                           env={**os.environ, demo.API_KEY_ENV: REAL_KEY})
        assert p.returncode == 3, p.stdout + p.stderr[-3000:]
        assert time.monotonic() - t < 80, "the agent was not stopped when the log failed"
        first = p.stdout.splitlines()[0]
        assert first.startswith("verdict: incomplete:") and "log_write_failed" in first and "disk full" in first, first
        assert "Traceback" not in p.stderr, p.stderr[-3000:]
        v = run_ptaudit("verify", str(run), "--no-blobs")
        assert v.returncode == 3 and "chain intact" in v.stdout and "log_write_failed" in v.stdout, v.stdout
        ev = _events(run)
        assert any(e["data"].get("store_error") for e in ev if e["kind"] == "fs.write"), "no blob failure recorded"
        m = json.loads((run / "manifest.json").read_text())
        assert m["sealed"] and m["lossy"] and m["end_reason"].startswith("log_write_failed")
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_too_little_free_space_is_refused_at_start(demo_world: DemoWorld, tmp_path: Path) -> None:
    args, run = _args(demo_world, tmp_path, "true", extra=("--min-free", "1000TiB"))
    p = subprocess.run(args, capture_output=True, text=True, timeout=60, env={**os.environ, demo.API_KEY_ENV: REAL_KEY})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "free on its filesystem" in p.stderr, p.stderr
    assert not run.exists()


def _task(tmp: Path, w: DemoWorld, fields: str = '["question"]', test_set: str = "data/arith-test.jsonl") -> Path:
    text = w.task.read_text().replace('fields = ["question"]', f"fields = {fields}")
    text = text.replace('test_set = "data/arith-test.jsonl"', f'test_set = "{test_set}"')
    (tmp / "task").mkdir(parents=True, exist_ok=True)
    t = tmp / "task" / "task.toml"
    t.write_text(text)
    return t


def test_task_inputs_that_would_disable_detection_are_refused(demo_world: DemoWorld, tmp_path: Path) -> None:
    data = demo_world.task.parent / "data" / "arith-test.jsonl"
    cases = []
    t = _task(tmp_path / "a", demo_world, fields='["question", "questoin"]', test_set=str(data))
    cases.append((t, ["field 'questoin'", str(data), "has text in none of its 60 items"]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"question": oops}\n')
    cases.append((_task(tmp_path / "b", demo_world, test_set=str(bad)), [str(bad), "line 2"]))
    cases.append((_task(tmp_path / "c", demo_world, test_set=str(tmp_path)), [str(tmp_path), "is a directory"]))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    cases.append((_task(tmp_path / "d", demo_world, test_set=str(empty)), [str(empty), "no items"]))
    for i, (task, needles) in enumerate(cases):
        args, run = _args(demo_world, tmp_path / f"r{i}", "true", task=task)
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, env={**os.environ, demo.API_KEY_ENV: REAL_KEY})
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert all(n in p.stderr for n in needles), (needles, p.stderr)
        assert not run.exists()  # refused before a run directory, a proxy or an agent exist
    world = tmp_path / "world.toml"
    world.write_text('[hosts]\n"huggingface.co" = "http://127.0.0.1:99999"\n')
    args, run = _args(demo_world, tmp_path / "k", "true")
    p = subprocess.run(args, capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != demo.API_KEY_ENV})
    assert p.returncode == 2 and demo.API_KEY_ENV in p.stderr and "is not set" in p.stderr and not run.exists(), p.stderr
    args, run = _args(demo_world, tmp_path / "w", "true", world=world)
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "1..65535" in p.stderr and not run.exists(), p.stderr
