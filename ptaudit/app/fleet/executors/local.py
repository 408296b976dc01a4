"""``--executor local``: the same jobs as on a cluster, as child processes of the submitter,
at most ``parallel`` at once (``[executor.local] parallel`` or ``--parallel``).

Each job is ``python -m ptaudit.app.fleet.job`` in its own process with its log under
``logs/local/``. A job record keeps its PID and start time, so ``fleet status`` from
another terminal (or a later submit) can tell a live job from one that died with its
submitter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import psutil

from ..expand import FleetRun
from ..store import FleetStore, JobRecord, now
from .base import Executor, JobState


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, store: FleetStore, plan_path: str, parallel: int = 2):
        super().__init__(store, plan_path)
        self.slots = parallel
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, runs: list[FleetRun]) -> list[JobRecord]:
        logs = self.store.logs / "local"
        logs.mkdir(parents=True, exist_ok=True)
        out: list[JobRecord] = []
        for run in runs:
            job_id = f"local-{uuid.uuid4().hex[:12]}"
            rec = JobRecord(key=run.key, job_id=job_id, executor=self.name, submitted=now())
            self.store.add_job(rec)
            with open(logs / f"{job_id}.log", "wb") as log:
                p = subprocess.Popen([sys.executable, "-m", "ptaudit.app.fleet.job", "--plan", self.plan_path,
                                      "--run", run.key, "--out", str(self.store.root), "--executor", "local",
                                      "--job-id", job_id], stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
            self.procs[job_id] = p
            rec.pid = p.pid
            try:
                rec.pid_started = psutil.Process(p.pid).create_time()
            except psutil.Error:
                pass  # already gone: poll() says so
            self.store.add_job(rec)
            out.append(rec)
        return out

    def states(self, jobs: list[JobRecord]) -> dict[str, JobState]:
        res: dict[str, JobState] = {}
        for j in jobs:
            p = self.procs.get(j.job_id)
            if p is not None:
                code = p.poll()
                res[j.job_id] = JobState(True, "RUNNING") if code is None else JobState(False, f"exited {code}")
            else:
                res[j.job_id] = _by_pid(j)
        return res

    def running(self) -> int:
        return sum(1 for p in self.procs.values() if p.poll() is None)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        before = self.running()
        while time.monotonic() < deadline and self.running() == before and before:
            time.sleep(0.2)
        if not before:
            time.sleep(min(timeout, 0.2))

    def close(self) -> None:
        # Ctrl-C reached the jobs too (same process group): give them time to seal their logs.
        deadline = time.monotonic() + 150
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _by_pid(j: JobRecord) -> JobState:
    if j.pid is None:
        return JobState(False, "never started")
    if j.host != socket.gethostname():
        return JobState(True, f"RUNNING (on {j.host}, not checked from here)")
    try:
        proc = psutil.Process(j.pid)
        if j.pid_started is not None and abs(proc.create_time() - j.pid_started) > 0.5:
            return JobState(False, "ended")  # the PID was reused
        if proc.status() == psutil.STATUS_ZOMBIE:
            return JobState(False, "ended")
        return JobState(True, "RUNNING")
    except psutil.NoSuchProcess:
        return JobState(False, "ended")
    except psutil.Error:
        return JobState(True, "RUNNING (unchecked)")
