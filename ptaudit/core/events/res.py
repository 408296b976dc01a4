"""Resource samples of the sandbox (source ``res``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import EventData


class ResSample(EventData):
    """One sample of the sandbox's resources."""

    KIND = "res.sample"
    SOURCE = "res"
    cpu_s: float | None = Field(default=None, description="CPU seconds inside (runsc events --stats).")
    mem_bytes: int | None = None
    pids: int | None = None
    host_cpu_s: float | None = Field(default=None, description="CPU of runsc's own host processes.")
    host_rss_bytes: int | None = None
    host_procs: int | None = None
    workspace_bytes: int | None = None
    sample_ms: float | None = None
    procs: list[dict[str, Any]] | None = Field(default=None, description="[{pid, ppid, cmd, cpu_pct}] from runsc "
                                               "ps, busiest first; cpu_pct: share of a CPU over the process's life.")


class ResBudgetExceeded(EventData):
    """A resource budget of the policy was exceeded (once per budget)."""

    KIND = "res.budget_exceeded"
    SOURCE = "res"
    budget: str = Field(description="max_processes or workspace_max.")
    limit: int
    value: int


class ResSummary(EventData):
    """At stop: the number of samples and the peaks."""

    KIND = "res.summary"
    SOURCE = "res"
    samples: int = 0
    cpu_s: float | None = None
    max_mem_bytes: int | None = None
    max_pids: int | None = None
    max_workspace_bytes: int | None = None
    max_host_rss_bytes: int | None = None
