"""A plan of six audited runs through a real one-node Slurm cluster (tests/fleet/slurmcluster.py):
submitit jobs, GRES GPUs, real ``ptaudit run`` under runsc as root in each job, inside a
loopback-only namespace with the simulated internet. Two jobs are killed mid-run (one
silently, one by ``scancel``): each is resubmitted and its partial run directory labelled.
The collected table matches the individual reports; the leaderboard renders in Chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ptaudit.app.fleet.store import Attempt, FleetStore
from tests.fleet.conftest import FleetWorld
from tests.fleet.slurmcluster import PACKAGES, SlurmCluster, missing
from tests.support import chromium, run_ptaudit

AGENTS = {"honest": ["--honest"], "cheater": [], "slow": ["--honest", "--pause", "10"]}
TASKS = [{"name": "arith", "gpus": 1}, {"name": "arith-b", "weight": 2}]


@pytest.fixture(scope="module")
def cluster(fleet_world: FleetWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    assert not missing(), f"apt-get install -y {PACKAGES} (make setup installs them)"
    with SlurmCluster(tmp_path_factory.mktemp("slurm"), gpus=2, cpus=2) as c:
        print(f"\nslurm cluster up in {c.start_s:.2f} s")
        yield c


def _running(store: FleetStore, key: str) -> Attempt | None:
    """Attempt 1 of ``key`` once its agent has fetched something through the proxy."""
    atts = [a for a in store.attempts(key) if a.attempt == 1 and a.state == "running"]
    if not atts:
        return None
    events = store.root / atts[0].rundir / "events.jsonl"
    return atts[0] if events.is_file() and b'"net.response"' in events.read_bytes() else None


@pytest.mark.timeout(900)
def test_slurm_fleet_end_to_end(fleet_world: FleetWorld, cluster: SlurmCluster, tmp_path: Path) -> None:
    plan = fleet_world.plan("slurm", AGENTS, TASKS, extra='on_fail = "flag"\nmax_attempts = 2\n'
                                                         '[executor.slurm]\npartition = "ci"\n')
    store = FleetStore(plan.parent / "out")
    env = {**fleet_world.env, **cluster.env}
    t0 = time.monotonic()
    sub = subprocess.Popen([sys.executable, "-m", "ptaudit.app.cli.main", "fleet", "submit", str(plan), "--executor",
                            "slurm", "--wait", "--poll", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    killed: dict[str, str] = {}
    try:
        # Each slow run is killed while its agent pauses, whichever starts first in the first way:
        #   silently (OOM, node loss): the job process dies and nothing records an end;
        #   by the scheduler (scancel): Slurm signals the job's processes, then kills them.
        while len(killed) < 2:
            for key in ("slow/arith/seed-0", "slow/arith-b/seed-0"):
                if key in killed:
                    continue
                done = [a for a in store.attempts(key) if a.attempt == 1 and a.state != "running"]
                assert not done, f"{key} finished before the test could kill it: {done}"
                a = _running(store, key)
                if a is None:
                    continue
                if not killed:
                    os.kill(a.pid, signal.SIGKILL)
                    killed[key] = "silent"
                else:
                    subprocess.run(["scancel", str(a.job_id)], env=env, check=True, timeout=30)
                    killed[key] = "scancel"
            if sub.poll() is not None or time.monotonic() - t0 > 300:
                out, errs = sub.communicate(timeout=60) if sub.poll() is not None else ("", "")
                raise AssertionError(f"the slow runs did not start (submit: {sub.poll()}):\n{out[-3000:]}{errs[-3000:]}")
            time.sleep(0.3)
        out, errs = sub.communicate(timeout=600)
    finally:
        if sub.poll() is None:
            sub.kill()
    wall = time.monotonic() - t0
    assert sub.returncode == 0, out[-3000:] + errs[-3000:]
    assert "fleet slurm: 6 done" in errs

    # every run done; the two killed ones on their second attempt, with the first labelled partial
    st = run_ptaudit("fleet", "status", str(plan), env={**env, "COLUMNS": "200"})
    assert st.returncode == 0 and "6 runs (6 done)" in st.stdout, st.stdout + st.stderr
    for key in ("slow/arith/seed-0", "slow/arith-b/seed-0"):
        first, second = store.attempts(key)
        assert not first.complete and second.complete and first.job_id != second.job_id
        label = json.loads((store.root / "runs" / key / "attempt-1.partial.json").read_text())
        assert label["label"] == "partial" and label["counted"] is False
    labels = {k: json.loads((store.root / "runs" / k / "attempt-1.partial.json").read_text())["reason"]
              for k in killed}
    by_way = {way: labels[k] for k, way in killed.items()}
    # nobody recorded the silent death: the fleet saw the job gone with the attempt still running
    assert re.match(r"job \S+ ended \(\w+\) before the run did", by_way["silent"]), by_way
    # the cancelled job's own process outlived ptaudit run long enough to record how it ended;
    # ptaudit run takes Slurm's SIGTERM as a graceful stop and seals the run (incomplete)
    assert re.match(r"(ptaudit run exited with -?\d+|job \S+ ended \(\w+\) before the run did|interrupted \(the job"
                    r" was stopped\))", by_way["scancel"]), by_way
    # GPUs: each run of the GPU task got one of the two fake GPUs from GRES; the other task none
    for agent in AGENTS:
        for a in store.attempts(f"{agent}/arith/seed-0"):
            assert a.devices in ("0", "1"), a
        for a in store.attempts(f"{agent}/arith-b/seed-0"):
            assert a.devices is None, a

    c = run_ptaudit("fleet", "collect", str(plan), env={**env, "COLUMNS": "200"})
    assert c.returncode == 1, c.stdout + c.stderr  # the cheater fails its audit
    assert "6/6 runs counted; 2 attempts not counted" in c.stdout
    checked = json.loads((store.results / "attempts.json").read_text())
    assert sorted((x["key"], x["attempt"]) for x in checked if not x["counted"]) == [
        ("slow/arith-b/seed-0", 1), ("slow/arith/seed-0", 1)]
    assert all(x["reason"].startswith("partial: ") for x in checked if not x["counted"])
    # the collected table matches each run's own report and grade
    runs = {r["key"]: r for r in pq.read_table(store.results / "runs.parquet").to_pylist()}
    assert len(runs) == 6
    for key, row in runs.items():
        latest = store.attempts(key)[-1]
        assert row["counted_attempt"] == latest.attempt and row["rundir"] == latest.rundir
        rep = json.loads((store.root / latest.rundir / "report.json").read_text())
        grade = json.loads((store.root / latest.rundir / "grade.json").read_text())
        assert rep["verify"]["head"] == latest.head and rep["run"]["sealed"]
        assert row["verdict"] == rep["verdict"] == ("fail" if key.startswith("cheater/") else "pass")
        assert {k: row[k] for k in rep["stats"]["findings_by_category"]} == rep["stats"]["findings_by_category"]
        assert row["score"] == pytest.approx(grade["aggregate"])  # on_fail = flag: every score counts
        assert row["score_status"] == ("flagged" if key.startswith("cheater/") else "counted")
    cheats = runs["cheater/arith/seed-0"]
    assert cheats["test_set_leakage"] > 0 and cheats["unauthorized_api"] > 0 and cheats["raw_score"] > 0.4
    board = {r["agent"]: r for r in pq.read_table(store.results / "leaderboard.parquet").to_pylist()}
    for agent in AGENTS:
        a, b = runs[f"{agent}/arith/seed-0"]["score"], runs[f"{agent}/arith-b/seed-0"]["score"]
        assert board[agent]["score"] == pytest.approx((1 * a + 2 * b) / 3)
    assert board["cheater"]["flagged"] == 2 and board["honest"]["flagged"] == 0

    page = store.results / "leaderboard.html"
    dom = chromium(tmp_path, page.resolve().as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(set(re.findall(r'href="([^"#]+report\.html)"', dom.stdout))) == 6
    assert "slow/arith/seed-0" in dom.stdout and "partial: " in dom.stdout

    # measured, for docs/fleet.md (not asserted): submit-to-start latency of each job
    jobs = {j.job_id: j for k in runs for j in store.jobs(k)}
    lat = sorted(_t(a.started) - _t(jobs[a.job_id].submitted) for k in runs for a in store.attempts(k)
                 if a.job_id in jobs)
    print(f"slurm fleet: {len(lat)} jobs, wall {wall:.0f} s, submit->start min {lat[0]:.1f} s, "
          f"median {lat[len(lat) // 2]:.1f} s (includes queueing behind the two CPUs)")


def _t(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
