"""``fleet submit --executor local``: real audited runs (runsc, mitmdump, the simulated
internet, in a loopback-only namespace), at most ``parallel`` at once, then collected."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow.parquet as pq

from ptaudit.app.fleet.store import FleetStore
from tests.fleet.conftest import REAL_KEY, FleetWorld
from tests.support import run_ptaudit


def _t(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_local_fleet_runs_bounded_and_collects(fleet_world: FleetWorld) -> None:
    plan = fleet_world.plan("local", {"honest": ["--honest"], "cheater": []}, [{"name": "arith"}],
                            extra="[executor.local]\nparallel = 1\n")
    r = run_ptaudit("fleet", "submit", str(plan), "--executor", "local", env=fleet_world.env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "fleet local: 2 done" in r.stderr and "2 runs (2 done)" in r.stdout
    store = FleetStore(plan.parent / "out")
    attempts = [a for k in ("honest/arith/seed-0", "cheater/arith/seed-0") for a in store.attempts(k)]
    assert [a.attempt for a in attempts] == [1, 1] and all(a.complete and a.executor == "local" for a in attempts)
    # parallel = 1: the second run started after the first ended
    (first, second) = sorted(attempts, key=lambda a: a.started)
    assert _t(second.started) >= _t(first.ended)
    # the real key reached the agent's API through the proxy, and nowhere in the fleet directory
    assert fleet_world.net.anthropic.keys_seen and REAL_KEY in fleet_world.net.anthropic.keys_seen[-1]
    for f in store.root.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".log", ".html"):
            assert REAL_KEY not in f.read_text(errors="replace"), f

    # submitting again changes nothing: every run is done
    again = run_ptaudit("fleet", "submit", str(plan), "--executor", "local", env=fleet_world.env, timeout=120)
    assert again.returncode == 0 and len(list((store.root / "records").rglob("job-*.json"))) == 2

    c = run_ptaudit("fleet", "collect", str(plan), env={"COLUMNS": "200"})
    assert c.returncode == 1, c.stdout + c.stderr  # the cheater fails its audit
    runs = {row["key"]: row for row in pq.read_table(store.results / "runs.parquet").to_pylist()}
    for key, a in (("honest/arith/seed-0", attempts[0]), ("cheater/arith/seed-0", attempts[1])):
        rep = json.loads((store.root / a.rundir / "report.json").read_text())
        assert runs[key]["verdict"] == rep["verdict"] == a.verdict
        assert {c: runs[key][c] for c in rep["stats"]["findings_by_category"]} == rep["stats"]["findings_by_category"]
    assert runs["cheater/arith/seed-0"]["test_set_leakage"] > 0 and runs["honest/arith/seed-0"]["findings"] == 0
    grade = json.loads((store.root / attempts[0].rundir / "grade.json").read_text())
    assert runs["honest/arith/seed-0"]["score"] == grade["aggregate"]
    assert runs["cheater/arith/seed-0"]["score"] is None and runs["cheater/arith/seed-0"]["score_status"] == "withheld"
    assert (store.results / "leaderboard.html").is_file() and "2/2 runs counted" in c.stdout
