"""Helpers for the fleet tests: plans over the demo task, and fleet directories whose run
directories are built through the real recorder and report code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ptaudit.app import demo

GRADER = Path(__file__).with_name("grader.py")


def demo_inputs(root: Path) -> dict[str, Path]:
    """The demo's task (with its test set) and a workspace template holding the demo agent."""
    root.mkdir(parents=True, exist_ok=True)
    paths = demo.build(root)
    return {"task": paths["task"], "agent": paths["workspace"], "test_set": paths["task"].parent / "data" / "arith-test.jsonl",
            "root": root, "test": paths["test"], "train": paths["train"]}


def plan_text(*, name: str = "study", out: str = "out", agents: list[dict[str, Any]], tasks: list[dict[str, Any]],
              seeds: list[int] | None = None, extra: str = "", tail: str = "") -> str:
    """A plan file; each agent/task is a dict of its keys (values written as TOML via JSON)."""
    lines = [f'name = "{name}"', f'out = "{out}"', f"seeds = {json.dumps(seeds or [0])}", extra]
    for a in agents:
        lines.append("[[agents]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in a.items()]
    for t in tasks:
        lines.append("[[tasks]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in t.items()]
    return "\n".join(lines) + "\n" + tail


def grade_tail(test_set: Path) -> str:
    return ("[grade]\ncommand = " + json.dumps([sys.executable, str(GRADER), "{rundir}", "{workspace}", str(test_set)])
            + "\n")


def grade(acc: float | None, base: float | None = 0.3, verdict: str | None = "pass",
          benchmarks: dict[str, tuple[float, float | None, float | None]] | None = None) -> dict[str, Any]:
    """A grade.json in the agreed shape (grade_version 1). ``benchmarks``: name -> (accuracy, weight, base)."""
    bms = benchmarks or {"arith": (acc if acc is not None else 0.0, None, base)}
    return {"grade_version": 1, "audit": {"verdict": verdict, "log_head": None, "on_fail": "flag"},
            "benchmarks": {n: {"type": "exact_match", "n": 60, "accuracy": a, "weight": w, "base_accuracy": b,
                               "instruct_accuracy": 0.7} for n, (a, w, b) in bms.items()},
            "aggregate": acc, "reported": {"aggregate": acc, "status": "counted"}}


# -- fleets whose runs are made by the real recorder and report code (no runsc) ------------

def _rechain(rundir: Path) -> None:
    """The perfect forgery: edit a record, recompute every later hash, reseal the manifest
    with the new head and rewrite the reports. Only a head kept elsewhere catches it."""
    from ptaudit.app.report import write_reports
    from ptaudit.core.events import GENESIS, encode_line

    log = rundir / "events.jsonl"
    records = [json.loads(x) for x in log.read_bytes().splitlines()]
    for r in records:
        if r["kind"] == "net.response":
            r["data"]["size"] = 1  # "it was a tiny file"
            break
    prev, lines = GENESIS, []
    for r in records:
        raw, prev = encode_line(r["seq"], r["ts"], r["source"], r["kind"], r["data"], prev)
        lines.append(raw)
    log.write_bytes(b"".join(lines))
    m = json.loads((rundir / "manifest.json").read_text())
    m["log"]["head"] = prev
    (rundir / "manifest.json").write_text(json.dumps(m, indent=2))
    write_reports(rundir)


def fabricate(store: Any, key: str, kind: str, acc: float | None = None, *, base: float | None = 0.3,
              graded: bool = True, tamper: str | None = None, grade_head: str | None = None) -> Any:
    """One attempt of run ``key`` as a job would leave it: a sealed run directory (pass, fail or
    lossy), its reports, the attempt record with the head, and grade.json. ``kind`` "partial"
    leaves an unsealed directory, no head and a partial label, as a killed job does.
    ``tamper``: "rechain" (log re-chained and resealed) or "report" (report.json's verdict edited)."""
    from ptaudit.app.fleet.store import Attempt
    from ptaudit.app.report import write_reports
    from ptaudit.core.verify import verify_run
    from tests.report.runs import make_audit_run

    n = store.allocate(key, 10)
    rundir = store.rundir(key, n)
    rundir.parent.mkdir(parents=True, exist_ok=True)
    store.workspace(key, n).mkdir(parents=True, exist_ok=True)
    a = Attempt(key=key, attempt=n, state="ended", executor="local", job_id=f"local-test-{n}",
                rundir=store.rel(rundir), workspace=store.rel(store.workspace(key, n)))
    if kind == "partial":
        from ptaudit.core.session import RunSession

        s = RunSession.create(rundir, command=["agent"])
        s.emit("net", "net.request", {"flow": "f1", "method": "GET", "url": "https://huggingface.co/x"})
        # killed here: never closed, never sealed
        a.exit_code, a.error = -9, "killed"
        store.write_attempt(a)
        store.label_partial(a, "job killed (test)")
        return a
    make_audit_run(rundir, severity="high" if kind == "fail" else "low", lost=3 if kind == "lossy" else 0)
    write_reports(rundir)
    a.head = verify_run(rundir).head
    a.exit_code, a.verdict, a.end_reason = (1 if kind == "fail" else 0), ("fail" if kind == "fail" else "pass"), "agent_exit"
    store.write_attempt(a)
    if graded:
        g = grade(acc, base, "fail" if kind == "fail" else "pass")
        g["audit"]["log_head"] = {"own": a.head, "other": "ab" * 32, None: None}[grade_head]
        (rundir / "grade.json").write_text(json.dumps(g))
    if tamper == "rechain":
        _rechain(rundir)
    elif tamper == "report":
        rep = json.loads((rundir / "report.json").read_text())
        rep["verdict"] = "pass" if rep["verdict"] == "fail" else "fail"
        (rundir / "report.json").write_text(json.dumps(rep, indent=2, sort_keys=True) + "\n")
    return a


# What the collect tests build: (agent, task, seed) -> list of attempts (kind, accuracy, options)
SCENARIO: dict[tuple[str, str, int], list[tuple[str, float | None, dict[str, Any]]]] = {
    ("alpha", "t1", 0): [("pass", 0.5, {})],
    ("alpha", "t1", 1): [("pass", 0.6, {"grade_head": "other"})],  # grade.json of another run's log
    ("alpha", "t2", 0): [("pass", 0.7, {})],
    ("alpha", "t2", 1): [("pass", 0.9, {})],
    ("beta", "t1", 0): [("fail", 0.9, {})],
    ("beta", "t1", 1): [("pass", 0.5, {})],
    ("beta", "t2", 0): [("pass", 0.6, {"grade_head": "own"})],
    ("beta", "t2", 1): [("lossy", 0.8, {})],
    ("gamma", "t1", 0): [("pass", 0.45, {"graded": False})],
    ("gamma", "t1", 1): [("partial", None, {}), ("pass", 0.4, {})],
    ("gamma", "t2", 0): [("pass", 0.95, {"tamper": "rechain"})],
    ("gamma", "t2", 1): [("fail", 0.99, {"tamper": "report"})],
}
WEIGHTS = {"t1": 1.0, "t2": 3.0}


def build_scenario_fleet(root: Path, on_fail: str = "withhold") -> tuple[Path, Any]:
    from ptaudit.app.fleet.plan import load_plan
    from ptaudit.app.fleet.store import FleetStore

    inputs = demo_inputs(root / "inputs")
    plan = root / "plan.toml"
    plan.write_text(plan_text(name="scenario", agents=[{"name": a, "command": ["true"]} for a in ("alpha", "beta", "gamma")],
                              tasks=[{"name": t, "file": str(inputs["task"]), "weight": w} for t, w in WEIGHTS.items()],
                              seeds=[0, 1], extra=f'on_fail = "{on_fail}"\nmax_attempts = 3'))
    store = FleetStore(root / "out")
    store.ensure(load_plan(plan))
    for (agent, task, seed), attempts in SCENARIO.items():
        for kind, acc, opts in attempts:
            fabricate(store, f"{agent}/{task}/seed-{seed}", kind, acc, **opts)
    return plan, store
