"""``--executor slurm``: one Slurm job per run, submitted with submitit.

Runs that need the same resources go in one job array (one ``sbatch``; Slurm starts them
as GPUs free up); a run that needs GPUs asks for them as GRES (``--gres=gpu:N``). The job
runs :func:`ptaudit.app.fleet.job.slurm_entry` in the submitting Python environment (set
``[executor.slurm] setup`` to activate it on the nodes). Jobs run as the submitting user;
``ptaudit run`` needs root for runsc (docs/fleet.md).

Liveness: ``squeue --states=all`` for every job of this fleet (by job name), which works
without accounting; ``sacct`` adds the final state (PREEMPTED, TIMEOUT, NODE_FAIL ...)
where slurmdbd runs. A job that neither queue knows and that wrote no end is gone.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections import defaultdict

from ..expand import FleetRun
from ..plan import SlurmExec
from ..store import FleetStore, JobRecord, now
from .base import Executor, JobState

ALIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
         "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}
MARGIN_S = 1800  # job time beyond the run's time limit: set-up, sealing, reports, grading


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, store: FleetStore, plan_path: str, config: SlurmExec | None = None,
                 fleet_name: str = "fleet", time_limit_s: float | None = None):
        super().__init__(store, plan_path)
        self.config = config or SlurmExec()
        self.job_name = f"ptaudit-{fleet_name}"
        self.time_limit_s = time_limit_s

    def _executor(self, gpus: int):  # type: ignore[no-untyped-def]
        import submitit

        c = self.config
        ex = submitit.AutoExecutor(folder=self.store.logs / "slurm", cluster="slurm")
        timeout_s = c.time or ((self.time_limit_s or 36000) + MARGIN_S)
        params: dict[str, object] = {"name": self.job_name, "timeout_min": max(1, math.ceil(timeout_s / 60)),
                                     "cpus_per_task": c.cpus_per_task, "nodes": 1, "tasks_per_node": 1,
                                     "slurm_array_parallelism": c.array_parallelism}
        if gpus:
            params["slurm_gres"] = f"gpu:{gpus}"
        if c.partition:
            params["slurm_partition"] = c.partition
        if c.mem_gb:
            params["mem_gb"] = c.mem_gb
        if c.setup:
            params["slurm_setup"] = list(c.setup)
        extra = dict(c.additional)
        if c.account:
            extra["account"] = c.account
        if c.qos:
            extra["qos"] = c.qos
        if extra:
            params["slurm_additional_parameters"] = extra
        ex.update_parameters(**params)
        return ex

    def submit(self, runs: list[FleetRun]) -> list[JobRecord]:
        from ..job import slurm_entry

        by_gpus: dict[int, list[FleetRun]] = defaultdict(list)
        for r in runs:
            by_gpus[r.gpus].append(r)
        out: list[JobRecord] = []
        for gpus, group in sorted(by_gpus.items()):
            ex = self._executor(gpus)
            with ex.batch():
                jobs = [ex.submit(slurm_entry, self.plan_path, r.key, str(self.store.root)) for r in group]
            for r, j in zip(group, jobs, strict=True):
                rec = JobRecord(key=r.key, job_id=str(j.job_id), executor=self.name, submitted=now())
                self.store.add_job(rec)
                out.append(rec)
        return out

    def states(self, jobs: list[JobRecord]) -> dict[str, JobState]:
        if not jobs:
            return {}
        seen = self._squeue()
        if seen is None:  # no Slurm client here (e.g. a laptop with the fleet directory mounted)
            return {j.job_id: JobState(True, "unknown (no squeue here)") for j in jobs}
        missing = [j.job_id for j in jobs if j.job_id not in seen]
        final = _sacct(missing) if missing else {}
        res: dict[str, JobState] = {}
        for j in jobs:
            state = seen.get(j.job_id) or final.get(j.job_id) or "gone"
            res[j.job_id] = JobState(state.split()[0] in ALIVE, state)
        return res

    def _squeue(self) -> dict[str, str] | None:
        try:
            p = subprocess.run(["squeue", "--states=all", "-h", "-n", self.job_name, "-o", "%i|%T"],
                               capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            return None
        if p.returncode != 0:
            raise RuntimeError(f"squeue failed: {p.stderr.strip()[:300]}")
        out: dict[str, str] = {}
        for line in p.stdout.splitlines():
            jid, _, state = line.strip().partition("|")
            for one in expand_ids(jid):
                out[one] = state
        return out


def expand_ids(jid: str) -> list[str]:
    """``123_[0-3,7%2]`` (a pending array) -> 123_0 .. 123_3, 123_7; other ids unchanged."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", jid)
    if not m:
        return [jid]
    ids: list[str] = []
    for part in m.group(2).split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        ids += [f"{m.group(1)}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return ids


def _sacct(ids: list[str]) -> dict[str, str]:
    """Final states from accounting, when slurmdbd runs; {} when it does not."""
    try:
        p = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", *[f"-j{i}" for i in ids]],
                           capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return {}
    if p.returncode != 0:
        return {}
    out: dict[str, str] = {}
    for line in p.stdout.splitlines():
        jid, _, state = line.partition("|")
        out[jid.strip()] = state.strip()
    return out
