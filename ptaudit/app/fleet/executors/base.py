"""What the fleet needs from a scheduler: submit runs as jobs, and say which jobs still live.

The outcome of a job is not asked of the scheduler: the job writes it (``records/``).
The scheduler is asked only whether a job that has not written its end is still alive,
so a job killed without a word (preemption, node failure, OOM, ``scancel``) is noticed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..expand import FleetRun
from ..store import FleetStore, JobRecord


@dataclass(frozen=True)
class JobState:
    alive: bool
    state: str  # the scheduler's word for it (PENDING, RUNNING, PREEMPTED, exited 1, gone ...)


class Executor(ABC):
    name: str = ""
    #: runs at once this executor allows (None: the scheduler decides)
    slots: int | None = None
    #: whether liveness can be asked at all (k8s jobs are watched by Kubernetes itself)
    observable: bool = True

    def __init__(self, store: FleetStore, plan_path: str):
        self.store = store
        self.plan_path = plan_path

    @abstractmethod
    def submit(self, runs: list[FleetRun]) -> list[JobRecord]:
        """Submit one job per run; record each (``store.add_job``) before returning."""

    @abstractmethod
    def states(self, jobs: list[JobRecord]) -> dict[str, JobState]:
        """Liveness of these jobs, by job id."""

    def running(self) -> int:
        """Jobs of this executor still running (bounded executors only)."""
        return 0

    def wait(self, timeout: float) -> None:
        """Sleep until something may have changed, at most ``timeout`` seconds."""
        import time

        time.sleep(timeout)

    def close(self) -> None:  # noqa: B027 - most executors own no processes
        """Stop what this process owns (local jobs) when the submitter is interrupted."""
