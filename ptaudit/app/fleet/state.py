"""Where each run of a fleet stands, from the job records and the scheduler.

    new      never submitted            -> submit
    queued   a job is alive, no attempt running in it yet
    running  an attempt is running and its job is alive (or cannot be asked: Kubernetes)
    done     the latest attempt completed: a sealed log and the head ptaudit printed
    retry    the latest attempt did not complete (killed, preempted, infrastructure
             failure, interrupted) and attempts are left -> submit again
    failed   it did not complete and all attempts are used
    error    ptaudit rejected the input (exit 2): retrying cannot help

The scheduler is asked first and the records read after: a job writes its end before it
exits, so a job that is gone by then and left an attempt "running" was killed. Such an
attempt is labelled partial beside its run directory (never inside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .executors import Executor, JobState
from .expand import FleetRun
from .store import Attempt, FleetMeta, FleetStore, JobRecord, read_json

TERMINAL = ("done", "failed", "error")


@dataclass
class RunState:
    run: FleetRun
    status: str
    attempts: list[Attempt] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)
    used: int = 0
    job: str | None = None  # the live (or last) job and the scheduler's word for it
    note: str = ""

    @property
    def latest(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def wants_submit(self) -> bool:
        return self.status in ("new", "retry")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def executors_for(store: FleetStore, meta: FleetMeta) -> dict[str, Executor]:
    """Whoever can say whether this fleet's jobs live: local jobs by PID, Slurm jobs by squeue."""
    from .executors.local import LocalExecutor
    from .executors.slurm import SlurmExecutor

    return {"local": LocalExecutor(store, meta.plan_path),
            "slurm": SlurmExecutor(store, meta.plan_path, fleet_name=meta.name)}


def classify(store: FleetStore, meta: FleetMeta, executors: dict[str, Executor]) -> list[RunState]:
    jobs = {r.key: store.jobs(r.key) for r in meta.runs}
    live: dict[str, JobState] = {}
    for name, ex in executors.items():
        mine = [j for js in jobs.values() for j in js if j.executor == name]
        if mine:
            live.update(ex.states(mine))
    return [_one(store, meta, r, jobs[r.key], live) for r in meta.runs]


def _one(store: FleetStore, meta: FleetMeta, run: FleetRun, jobs: list[JobRecord],
         live: dict[str, JobState]) -> RunState:
    attempts = store.attempts(run.key)
    st = RunState(run, "new", attempts, jobs, used=max(len(jobs), attempts[-1].attempt if attempts else 0))
    alive = [j for j in jobs if j.job_id in live and live[j.job_id].alive]
    if jobs:
        last = alive[-1] if alive else jobs[-1]
        st.job = f"{last.job_id} {live[last.job_id].state}" if last.job_id in live else last.job_id
    for a in attempts:
        if a.state == "running" and a.job_id in live and not live[a.job_id].alive:
            store.label_partial(a, f"job {a.job_id} ended ({live[a.job_id].state}) before the run did")
            a.error = a.error or f"job {live[a.job_id].state}"
    latest = st.latest
    lost = latest is not None and latest.state == "running" and latest.job_id in live and not live[latest.job_id].alive
    if latest is not None and latest.complete:
        st.status = "done"
    elif latest is not None and latest.state == "ended" and latest.exit_code == 2:
        st.status, st.note = "error", latest.error or "input error"
    elif latest is not None and latest.state == "running" and not lost:
        st.status = "running"
    elif alive:
        st.status = "queued"
    elif st.used == 0:
        st.status = "new"
    else:
        st.status = "retry" if st.used < meta.max_attempts else "failed"
        if latest is not None:
            st.note = store_reason(store, latest)
        elif jobs:
            st.note = f"job {st.job} ended without starting an attempt"
    return st


def store_reason(store: FleetStore, a: Attempt) -> str:
    label = read_json(store.partial_label(a.key, a.attempt))
    if isinstance(label, dict) and label.get("reason"):
        return f"attempt {a.attempt}: {label['reason']}"
    return f"attempt {a.attempt}: {a.error or a.end_reason or a.state}"
