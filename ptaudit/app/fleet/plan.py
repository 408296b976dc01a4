"""The fleet plan: a TOML file naming agents, tasks, seeds and how to run them (docs/fleet.md).

Loaded strictly like every ptaudit input: unknown keys, bad values and files that do not
exist or do not load are one error naming the plan file, the key and its line. Paths are
relative to the plan file. Each task file and policy is loaded here once, so a mistake
surfaces at submit time rather than in two hundred jobs.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from detectors import load_policy
from policies import SHIPPED
from ptaudit.core.errors import InputError, PtauditError
from ptaudit.core.task import load_task
from ptaudit.core.tomlfile import format_validation, read_toml
from ptaudit.core.units import Duration
from ptaudit.core.world import load_world

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
PLACEHOLDERS = frozenset({"seed", "agent", "task", "attempt"})
OnFail = Literal["withhold", "base", "flag"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _name(v: str) -> str:
    if not NAME.match(v):
        raise ValueError("must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return v


def _file(v: str, info: ValidationInfo, what: str, *, directory: bool = False) -> Path:
    base = Path((info.context or {}).get("base", "."))
    p = (base / v).resolve()
    if directory and not p.is_dir():
        raise ValueError(f"{what} {p} is not a directory")
    if not directory and not p.is_file():
        raise ValueError(f"{what} {p} does not exist")
    return p


def _loadable(v: str, info: ValidationInfo, what: str, load: Callable[[Path], object]) -> Path:
    """A file relative to the plan that ``load`` accepts (checked now, not in the job)."""
    p = _file(v, info, what)
    try:
        load(p)
    except PtauditError as exc:
        raise ValueError(f"{what} does not load: {str(exc).splitlines()[0]}") from None
    return p


def _policy(v: str | None, info: ValidationInfo) -> str | None:
    """A shipped name stays a name; anything else is a file relative to the plan, loaded now."""
    if v is None:
        return None
    base = Path((info.context or {}).get("base", "."))
    p = (base / v).resolve()
    if not p.is_file():
        if v in SHIPPED:
            return v
        raise ValueError(f"policy {v!r} is neither a file next to the plan nor a shipped policy ({', '.join(SHIPPED)})")
    try:
        load_policy(p)
    except PtauditError as exc:
        raise ValueError(f"policy file does not load: {str(exc).splitlines()[0]}") from None
    return str(p)


class Agent(Strict):
    name: str = Field(description="Row of the leaderboard; part of each run's key.")
    command: list[str] = Field(min_length=1, description="The agent's command inside the sandbox; "
                                                         "{seed} {agent} {task} {attempt} are replaced.")
    workspace: Path | None = Field(default=None, description="Directory copied into each run's fresh workspace.")
    policy: str | None = None

    _n = field_validator("name")(_name)

    @field_validator("command")
    @classmethod
    def _placeholders(cls, v: list[str]) -> list[str]:
        for arg in v:
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(arg) if f is not None}
            except ValueError as exc:
                raise ValueError(f"{arg!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
            unknown = fields - PLACEHOLDERS
            if unknown:
                raise ValueError(f"{arg!r}: unknown placeholder {{{sorted(unknown)[0]}}}; "
                                 f"known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
        return v

    @field_validator("workspace", mode="before")
    @classmethod
    def _ws(cls, v: str, info: ValidationInfo) -> Path:
        return _file(v, info, "workspace template", directory=True)

    @field_validator("policy")
    @classmethod
    def _pol(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _policy(v, info)


class TaskEntry(Strict):
    name: str = Field(description="Column of the leaderboard; part of each run's key.")
    file: Path = Field(description="The task file (docs/task.md).")
    weight: float = Field(default=1.0, gt=0, description="Weight of this task in an agent's average.")
    gpus: int | None = Field(default=None, ge=0, le=16,
                             description="GPUs the scheduler allocates to each run (default: 1 if the task asks for a GPU).")
    policy: str | None = None
    # Filled from the task file by the loader.
    task_gpu: bool = Field(default=False, exclude=True)

    _n = field_validator("name")(_name)

    @field_validator("file", mode="before")
    @classmethod
    def _task(cls, v: str, info: ValidationInfo) -> Path:
        return _loadable(v, info, "task file", load_task)

    @field_validator("policy")
    @classmethod
    def _pol(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _policy(v, info)

    @model_validator(mode="after")
    def _gpus(self) -> TaskEntry:
        self.task_gpu = load_task(self.file).gpu
        if self.gpus is None:
            self.gpus = 1 if self.task_gpu else 0
        elif self.task_gpu and self.gpus == 0:
            raise ValueError("gpus = 0 but the task asks for a GPU (gpu = true in its task file)")
        return self


class Grade(Strict):
    command: list[str] = Field(min_length=1, description="Run in the job after the audited run; "
                                                         "{rundir} {workspace} are replaced; writes RUNDIR/grade.json.")

    @field_validator("command")
    @classmethod
    def _placeholders(cls, v: list[str]) -> list[str]:
        for arg in v:
            fields = {f for _, f, _, _ in string.Formatter().parse(arg) if f is not None}
            if fields - {"rundir", "workspace"}:
                raise ValueError(f"{arg!r}: only {{rundir}} and {{workspace}} are replaced here")
        return v


class LocalExec(Strict):
    parallel: int = Field(default=2, ge=1, le=256, description="Runs at once on this machine.")


class SlurmExec(Strict):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    cpus_per_task: int = Field(default=1, ge=1)
    mem_gb: float | None = Field(default=None, gt=0)
    time: Duration | None = Field(default=None, description="Job time limit (default: the run's time limit + 30 min).")
    array_parallelism: int = Field(default=256, ge=1, description="Jobs of one array running at once.")
    setup: list[str] = Field(default_factory=list, description="Shell lines run before the job (e.g. activate a venv).")
    additional: dict[str, str | int | bool] = Field(default_factory=dict, description="Extra sbatch options.")


class K8sExec(Strict):
    image: str = Field(description="Container image with ptaudit, runsc and mitmproxy installed.")
    namespace: str = "default"
    claim: str = Field(description="PersistentVolumeClaim (ReadWriteMany) holding plan inputs and run directories.")
    mount: str = "/fleet"
    plan_dir: str = Field(default="plan", description="Where the plan's directory lies on the volume (relative to mount).")
    out_dir: str = Field(default="out", description="The fleet directory on the volume (relative to mount).")
    gpu_resource: str = "nvidia.com/gpu"
    cpu: str = "8"
    memory: str = "64Gi"
    secret: str | None = Field(default=None, description="Secret whose keys become the job's environment (API keys).")
    node_selector: dict[str, str] = Field(default_factory=dict)
    kubernetes_version: str = "1.30"

    @field_validator("namespace", "claim")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", v):
            raise ValueError("must be a DNS-1123 label (lower-case letters, digits, '-')")
        return v

    @field_validator("mount")
    @classmethod
    def _abs(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must be an absolute path inside the container")
        return v.rstrip("/") or "/"


class Executors(Strict):
    local: LocalExec = Field(default_factory=LocalExec)
    slurm: SlurmExec = Field(default_factory=SlurmExec)
    k8s: K8sExec | None = None


class Plan(Strict):
    name: str
    out: Path = Field(description="The fleet directory (shared storage): run directories, job records, results.")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    max_attempts: int = Field(default=2, ge=1, le=20, description="Executions of one run, first one included.")
    policy: str = "default"
    on_fail: OnFail = Field(default="withhold", description="How a run that does not pass counts in the leaderboard.")
    time_limit: Duration | None = None
    world: Path | None = None
    upstream_ca: Path | None = None
    grade: Grade | None = None
    agents: list[Agent] = Field(min_length=1)
    tasks: list[TaskEntry] = Field(min_length=1)
    executor: Executors = Field(default_factory=Executors)
    # Set by the loader.
    source: Path | None = Field(default=None, exclude=True)
    sha256: str | None = Field(default=None, exclude=True)

    _n = field_validator("name")(_name)

    @field_validator("out", mode="before")
    @classmethod
    def _out(cls, v: str, info: ValidationInfo) -> Path:
        return (Path((info.context or {}).get("base", ".")) / v).resolve()

    @field_validator("world", mode="before")
    @classmethod
    def _world(cls, v: str, info: ValidationInfo) -> Path:
        return _loadable(v, info, "world file", load_world)

    @field_validator("upstream_ca", mode="before")
    @classmethod
    def _ca(cls, v: str, info: ValidationInfo) -> Path:
        return _file(v, info, "CA file")

    @field_validator("policy")
    @classmethod
    def _pol(cls, v: str, info: ValidationInfo) -> str:
        return _policy(v, info) or "default"

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds repeat")
        if any(s < 0 for s in v):
            raise ValueError("seeds must not be negative")
        return v

    @field_validator("agents", "tasks")
    @classmethod
    def _unique(cls, v: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in v:
            if item.name in seen:
                raise ValueError(f"name {item.name!r} appears twice")
            seen.add(item.name)
        return v

    def policy_for(self, agent: Agent, task: TaskEntry) -> str:
        """The most specific wins: the agent's, then the task's, then the plan's."""
        return agent.policy or task.policy or self.policy


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    data, text = read_toml(path)
    try:
        plan = Plan.model_validate(data, context={"base": str(path.resolve().parent)})
    except ValidationError as exc:
        raise InputError(format_validation(path, text, data, exc, "plan")) from None
    plan.source = path.resolve()
    plan.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return plan
