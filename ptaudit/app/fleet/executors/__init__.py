"""Executors: ``local`` (bounded parallelism on this machine, the embedded default) and
``slurm`` (submitit). Kubernetes jobs are written as manifests (``fleet k8s``), not submitted."""

from __future__ import annotations

from ..store import FleetStore
from .base import Executor, JobState

NAMES = ("local", "slurm")


def make_executor(name: str, store: FleetStore, plan_path: str, **options: object) -> Executor:
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor(store, plan_path, **options)  # type: ignore[arg-type]
    if name == "slurm":
        from .slurm import SlurmExecutor

        return SlurmExecutor(store, plan_path, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown executor {name!r}")


__all__ = ["NAMES", "Executor", "JobState", "make_executor"]
