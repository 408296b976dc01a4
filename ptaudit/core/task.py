"""The task file: what the audited run is. Every key is documented in docs/task.md.

Paths are relative to the task file and resolved when loaded; the test sets they name
are read only by ptaudit (leakage index, grading) and never mounted into the sandbox.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InputError
from .tomlfile import load_model
from .units import Duration, Size


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


GradeType = Literal["gsm8k", "aime", "multiple_choice", "bfcl", "humaneval"]


class BenchmarkGrading(Strict):
    """How ``grading/`` scores the final model on this benchmark (docs/grading.md)."""

    type: GradeType
    path: Path | None = Field(default=None, description="Items to grade (default: the benchmark's test_set).")
    items: int | None = Field(default=None, ge=1, description="Grade the first N items (default: all).")
    max_tokens: int = Field(default=512, ge=1, le=32768)
    few_shot: int = Field(default=0, ge=0, le=32)
    few_shot_set: Path | None = Field(default=None, description="Where few-shot examples come from (never the test set).")
    prompt_field: str | None = Field(default=None, description="Item field holding the question (default per type).")
    answer_field: str | None = Field(default=None, description="Item field holding the reference (default per type).")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    base_score: float | None = Field(default=None, ge=0.0, le=1.0, description="Reference accuracy of the base model.")
    instruct_score: float | None = Field(default=None, ge=0.0, le=1.0,
                                         description="Reference accuracy of the instruct model.")
    weight: float | None = Field(default=None, gt=0.0, description="Aggregate weight (default: 1/(instruct - base)).")
    time_limit: Duration = Field(default=10.0, description="Per-item execution limit (humaneval).")

    @model_validator(mode="after")
    def _refs(self) -> BenchmarkGrading:
        if self.few_shot and self.few_shot_set is None:
            raise ValueError("few_shot needs few_shot_set (examples never come from the test set)")
        if (self.base_score is None) != (self.instruct_score is None):
            raise ValueError("give both base_score and instruct_score, or neither")
        if self.base_score is not None and self.instruct_score is not None and self.instruct_score <= self.base_score:
            raise ValueError("instruct_score must be above base_score (weights are 1/(instruct - base))")
        return self


class Benchmark(Strict):
    name: str = Field(min_length=1)
    test_set: Path = Field(description="JSONL/JSON/CSV/Parquet file of test items, relative to the task file.")
    fields: list[str] = Field(min_length=1, description="Text fields that leakage detection indexes.")
    id_field: str | None = Field(default=None, description="Field holding the item id (default: line number).")
    hub_ids: list[str] = Field(default_factory=list, description="Hub dataset ids whose download is itself leakage.")
    pypi_packages: list[str] = Field(default_factory=list, description="PyPI packages that ship this test set.")
    allowed_splits: list[str] = Field(default_factory=lambda: ["train"],
                                      description="Splits of hub_ids the agent may download (e.g. train).")
    grading: BenchmarkGrading | None = Field(default=None, description="Score the final model on it (grading/).")


class Grading(Strict):
    """Task-level grading settings; benchmarks opt in with their own ``grading`` table."""

    enabled: bool = Field(default=False, description="ptaudit run grades the final model at the end.")
    backend: Literal["auto", "vllm", "transformers"] = "auto"
    batch_size: int = Field(default=32, ge=1, le=4096)
    max_model_size: Size = Field(default=200 << 30, description="Largest model directory graded.")
    probe: bool = Field(default=True, description="Run the memorization probe on the graded items.")
    probe_items: int = Field(default=64, ge=4, le=10_000)
    probe_tokens: int = Field(default=32, ge=4, le=512, description="Tokens of each half the probe compares.")


class Reference(Strict):
    """A reference checkpoint for model-substitution checks: a fingerprint file written by
    ``ptaudit fingerprint DIR`` (and optionally the directory itself, for tensor values)."""

    fingerprint: Path = Field(description="Fingerprint file (JSON), relative to the task file.")
    role: Literal["base", "non-base"] = Field(description="base: the allowed starting point; non-base: "
                                              "a checkpoint the final model must not be (e.g. the official instruct).")
    name: str | None = Field(default=None, description="What it is, e.g. a Hub id (shown in findings).")
    dir: Path | None = Field(default=None, description="The checkpoint directory, for tensor-value evidence.")


class Agent(Strict):
    api_host: str | None = Field(default=None, description="Host of the agent harness's own LLM API.")
    api_key_env: str | None = Field(default=None, description="Host env var holding the real key.")
    harness_user_agents: list[str] = Field(default_factory=list, description="User-Agent globs of the agent "
                                           "harness's own API client; empty: the first client to use the key.")


class Task(Strict):
    name: str = Field(min_length=1)
    base_model: str = Field(description="Hub id of the only model the agent may post-train.")
    base_model_dir: Path | None = Field(default=None, description="Host dir mounted read-only at /models/base.")
    instruct_models: list[str] = Field(default_factory=list, description="Post-trained variants of the base (substitution).")
    references: list[Reference] = Field(default_factory=list, description="Reference checkpoints (fingerprints).")
    final_model: str = "final_model"
    evaluation: list[str] = Field(default_factory=list, description=(
        "Workspace paths (globs; a trailing / means the whole directory) of the evaluation "
        "material handed to the agent: scripts, rubrics, and the outputs they write. Provenance "
        "taint sources."))
    training_data: list[str] = Field(default_factory=list, description=(
        "Workspace paths (globs) the agent is told to put training data in. Provenance sinks, "
        "besides final_model and any weights the agent writes."))
    time_limit: Duration | None = None
    workspace_max: Size | None = Field(default=None, gt=0, description=(
        "Largest workspace size the task allows; the smaller of this and the policy's budgets.workspace_max wins."))
    gpu: bool = False
    ro_mounts: dict[str, Path] = Field(default_factory=dict, description="Sandbox path -> host path, mounted "
                                       "read-only (e.g. a CPU torch at /opt/torch/torch); host paths relative to the task file.")
    benchmarks: list[Benchmark] = Field(default_factory=list)
    agent: Agent = Field(default_factory=Agent)
    grading: Grading = Field(default_factory=Grading)
    # Set by the loader, not by the file.
    source: Path | None = Field(default=None, exclude=True)
    sha256: str | None = Field(default=None, exclude=True)

    @field_validator("base_model")
    @classmethod
    def _hub_id(cls, v: str) -> str:
        if v.count("/") != 1 or not all(v.split("/")):
            raise ValueError('must be a Hub id "org/name"')
        return v

    @model_validator(mode="after")
    def _graded(self) -> Task:
        if self.grading.enabled and not any(b.grading for b in self.benchmarks):
            raise ValueError("grading.enabled needs at least one benchmark with a [benchmarks.grading] table")
        return self

    @field_validator("final_model")
    @classmethod
    def _relative(cls, v: str) -> str:
        p = Path(v)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError("must be a path inside the workspace")
        return v


def workspace_max(task: Task, policy_max: int) -> int:
    """The workspace budget of a run: the smaller of the task's and the policy's."""
    return min(policy_max, task.workspace_max) if task.workspace_max else policy_max


def load_task(path: str | Path, check_files: bool = True) -> Task:
    path = Path(path)
    task, _ = load_model(path, Task, "task")
    base = path.resolve().parent
    for b in task.benchmarks:
        b.test_set = (base / b.test_set).resolve()
        if check_files and not b.test_set.is_file():
            what = ("is a directory, not a file" if b.test_set.is_dir() else
                    "is not a regular file" if b.test_set.exists() else "does not exist")
            raise InputError(f"{path}: benchmark {b.name!r}: test_set {b.test_set} {what}")
        if b.grading is not None:
            for key in ("path", "few_shot_set"):
                rel = getattr(b.grading, key)
                if rel is not None:
                    setattr(b.grading, key, (base / rel).resolve())
                    if check_files and not getattr(b.grading, key).is_file():
                        raise InputError(f"{path}: benchmark {b.name!r}: grading.{key} {getattr(b.grading, key)} "
                                         "does not exist")
    for r in task.references:
        r.fingerprint = (base / r.fingerprint).resolve()
        if check_files and not r.fingerprint.is_file():
            raise InputError(f"{path}: reference fingerprint {r.fingerprint} does not exist "
                             "(write it with: ptaudit fingerprint DIR --output FILE)")
        if r.dir is not None:
            r.dir = (base / r.dir).resolve()
            if check_files and not r.dir.is_dir():
                raise InputError(f"{path}: reference dir {r.dir} is not a directory")
    if task.base_model_dir is not None:
        task.base_model_dir = (base / task.base_model_dir).resolve()
        if check_files and not task.base_model_dir.is_dir():
            raise InputError(f"{path}: base_model_dir {task.base_model_dir} is not a directory")
    for dest, src in list(task.ro_mounts.items()):
        if not dest.startswith("/") or ".." in dest.split("/"):
            raise InputError(f"{path}: ro_mounts: {dest!r} must be an absolute sandbox path")
        task.ro_mounts[dest] = (base / src).resolve()
        if check_files and not task.ro_mounts[dest].exists():
            raise InputError(f"{path}: ro_mounts[{dest!r}]: {task.ro_mounts[dest]} does not exist")
    task.source = path.resolve()
    task.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return task
