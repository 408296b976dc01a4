"""The fleet directory on shared storage, and the records the fleet keeps outside run directories.

    OUT/fleet.json                                  the expanded plan (written once; the plan's sha256)
    OUT/plan.toml                                   a copy of the plan as submitted
    OUT/runs/AGENT/TASK/seed-N/attempt-K/           a run directory (``ptaudit run --out``)
    OUT/runs/AGENT/TASK/seed-N/attempt-K.partial.json   label of an attempt that did not complete
    OUT/workspaces/AGENT/TASK/seed-N/attempt-K/     the agent's /workspace for that attempt
    OUT/records/AGENT/TASK/seed-N/attempt-K.json    written by the job: state, job id, exit code,
                                                    and the log head ``ptaudit run`` printed at its end
    OUT/records/AGENT/TASK/seed-N/job-ID.json       written by the submitter: one per submitted job
    OUT/logs/                                       job logs (submitit's folder, local jobs)
    OUT/results/                                    what ``fleet collect`` writes

Every file is written whole (temp file, fsync, rename), so a reader on another node sees
the old or the new version, never half of one. Attempt numbers are taken with an
exclusive create, so two executions of one run (a requeue racing a resubmission) never
share a run directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptaudit.core.errors import InputError

from .expand import FleetRun, expand
from .plan import OnFail, Plan

FLEET_VERSION = 1
FLEET_JSON = "fleet.json"
AttemptState = Literal["running", "ended", "error"]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FleetMeta(Model):
    fleet_version: int = FLEET_VERSION
    name: str
    plan_path: str
    plan_sha256: str
    created: str
    on_fail: OnFail
    max_attempts: int
    tasks: dict[str, float] = Field(description="task name -> weight")
    runs: list[FleetRun]

    def run(self, key: str) -> FleetRun:
        for r in self.runs:
            if r.key == key:
                return r
        raise InputError(f"run {key!r} is not in fleet {self.name!r}")


class JobRecord(Model):
    """One submitted job; an execution of it allocates an attempt."""

    key: str
    job_id: str
    executor: str
    submitted: str
    host: str = Field(default_factory=socket.gethostname)
    pid: int | None = None  # local jobs: the job process and its start time (pid reuse)
    pid_started: float | None = None


class Attempt(Model):
    """One execution of a run, as the job saw it; the head is the one ``ptaudit run`` printed."""

    key: str
    attempt: int
    state: AttemptState
    executor: str
    job_id: str | None = None
    host: str = Field(default_factory=socket.gethostname)
    pid: int = Field(default_factory=os.getpid)
    started: str = Field(default_factory=now)
    ended: str | None = None
    rundir: str  # relative to the fleet directory
    workspace: str
    exit_code: int | None = None
    head: str | None = None
    verdict: str | None = None
    end_reason: str | None = None
    error: str | None = None
    grade_exit: int | None = None
    devices: str | None = None  # CUDA_VISIBLE_DEVICES the scheduler gave the job

    @property
    def complete(self) -> bool:
        """Ended on its own with a sealed log and a head: its run directory can be counted."""
        return (self.state == "ended" and self.exit_code in (0, 1) and bool(self.head)
                and self.end_reason not in (None, "interrupted"))


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


class FleetStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    # -- layout ------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.root / FLEET_JSON

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def rundir(self, key: str, attempt: int) -> Path:
        return self.root / "runs" / key / f"attempt-{attempt}"

    def partial_label(self, key: str, attempt: int) -> Path:
        return self.root / "runs" / key / f"attempt-{attempt}.partial.json"

    def workspace(self, key: str, attempt: int) -> Path:
        return self.root / "workspaces" / key / f"attempt-{attempt}"

    def records(self, key: str) -> Path:
        return self.root / "records" / key

    def rel(self, p: Path) -> str:
        return os.path.relpath(p, self.root)

    # -- the fleet ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.meta_path.is_file()

    def meta(self) -> FleetMeta:
        data = read_json(self.meta_path)
        if data is None:
            raise InputError(f"{self.root}: not a fleet directory (no {FLEET_JSON}); submit a plan first")
        try:
            return FleetMeta.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"{self.meta_path}: not a fleet file: {str(exc).splitlines()[0]}") from None

    def ensure(self, plan: Plan) -> FleetMeta:
        """Create the fleet from the plan, or check an existing one came from the same plan."""
        assert plan.source is not None and plan.sha256 is not None
        if not self.exists():
            meta = FleetMeta(name=plan.name, plan_path=str(plan.source), plan_sha256=plan.sha256, created=now(),
                             on_fail=plan.on_fail, max_attempts=plan.max_attempts,
                             tasks={t.name: t.weight for t in plan.tasks}, runs=expand(plan))
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "plan.toml").write_bytes(plan.source.read_bytes())
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".fleet.")
            with os.fdopen(fd, "w") as fh:
                fh.write(meta.model_dump_json(indent=1) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self.meta_path)  # exclusive: two jobs creating it at once agree on one
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        meta = self.meta()
        if meta.plan_sha256 != plan.sha256:
            raise InputError(f"{self.root}: this fleet was created from another version of the plan "
                             f"(sha256 {meta.plan_sha256[:12]}, now {plan.sha256[:12]}); "
                             "restore the plan or use a new out directory")
        return meta

    # -- records -----------------------------------------------------------------------
    def add_job(self, job: JobRecord) -> None:
        write_json(self.records(job.key) / f"job-{_safe(job.job_id)}.json", job.model_dump())

    def jobs(self, key: str) -> list[JobRecord]:
        d = self.records(key)
        out = [JobRecord.model_validate(read_json(p)) for p in sorted(d.glob("job-*.json"))] if d.is_dir() else []
        return sorted(out, key=lambda j: j.submitted)

    def attempts(self, key: str) -> list[Attempt]:
        d = self.records(key)
        out: list[Attempt] = []
        for p in d.glob("attempt-*.json") if d.is_dir() else []:
            data = read_json(p)
            if not data:
                continue  # just allocated; its first record follows
            out.append(Attempt.model_validate(data))
        return sorted(out, key=lambda a: a.attempt)

    def allocate(self, key: str, limit: int) -> int | None:
        """The next attempt number, taken exclusively; None when ``limit`` are used.

        The placeholder is linked into place whole (never an empty file a reader could see),
        and a link fails if the name exists: atomic and exclusive, also on NFS."""
        d = self.records(key)
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".alloc.")
        try:
            os.write(fd, b"{}\n")
            os.close(fd)
            for n in range(1, limit + 1):
                try:
                    os.link(tmp, d / f"attempt-{n}.json")
                except FileExistsError:
                    continue
                return n
            return None
        finally:
            os.unlink(tmp)

    def write_attempt(self, a: Attempt) -> None:
        write_json(self.records(a.key) / f"attempt-{a.attempt}.json", a.model_dump())

    def label_partial(self, a: Attempt, reason: str) -> Path:
        """Mark an attempt's run directory as partial (beside it, never inside: it is evidence)."""
        p = self.partial_label(a.key, a.attempt)
        if not p.exists():
            write_json(p, {"label": "partial", "counted": False, "run": a.key, "attempt": a.attempt,
                           "rundir": a.rundir, "job_id": a.job_id, "reason": reason, "labelled": now()})
        return p

    def fresh_workspace(self, key: str, attempt: int, template: str | None) -> Path:
        ws = self.workspace(key, attempt)
        if ws.exists():
            shutil.rmtree(ws)
        ws.parent.mkdir(parents=True, exist_ok=True)
        if template:
            shutil.copytree(template, ws, symlinks=True)
        else:
            ws.mkdir()
        return ws


def _safe(job_id: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in job_id)
