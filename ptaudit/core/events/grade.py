"""Events of grading at the end of a run (source ``ptaudit``; docs/grading.md). Recorded
before the seal, so the scores are in the tamper-evident log; grade.json is derived."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import EventData


class GradeStart(EventData):
    """Grading of the final model begins (the agent has stopped)."""

    KIND = "grade.start"
    SOURCE = "ptaudit"
    model_dir: str = Field(description="The graded directory (task final_model in the workspace).")
    backend: str = Field(description="Requested backend: auto, vllm or transformers.")
    reference_dir: str | None = Field(default=None, description="The base model graded beside it.")


class GradeResult(EventData):
    """The scores, as grade.json has them (before the audit gate is applied)."""

    KIND = "grade.result"
    SOURCE = "ptaudit"
    model_dir: str
    backend: str | None = None
    aggregate: float | None = None
    base_aggregate: float | None = None
    tokens_per_s: float = 0.0
    benchmarks: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                  description="name -> {n, accuracy, base_accuracy}.")
    probe_significant: list[str] = Field(default_factory=list, description="Benchmarks the probe flagged.")
    findings: list[str] = Field(default_factory=list, description="Ids of the probe's findings.")


class GradeError(EventData):
    """Grading could not run (refused model directory, no backend, interrupted): no score counts."""

    KIND = "grade.error"
    SOURCE = "ptaudit"
    error: str
