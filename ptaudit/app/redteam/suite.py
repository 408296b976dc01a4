"""The suite end to end: load and validate every scenario, run each under each policy,
judge, summarise. Shared by ``make redteam`` (``python -m ptaudit.app.redteam``) and
``ptaudit policy eval``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from .runner import REPO, PolicyRef, default_scenarios, loader_context, run_all, world_module
from .scenario import load_suite
from .score import Result, Summary, judge, summarize


@dataclass
class SuiteRun:
    policies: list[PolicyRef]
    results: list[Result]
    summaries: list[Summary]
    workdir: Path

    def by_policy(self, label: str) -> list[Result]:
        return [r for r in self.results if r.policy == label]


def default_jobs() -> int:
    # A run is mostly waiting (sandbox start, proxy, final scans): one more than the cores.
    return (os.cpu_count() or 1) + 1


def default_workdir() -> Path:
    return Path.cwd() / "runs" / ("redteam-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))


def run_suite(policies: list[PolicyRef], scenarios: Path | None = None, only: list[str] | None = None,
              jobs: int | None = None, workdir: Path | None = None, keep: bool = False,
              con: Console | None = None) -> SuiteRun:
    world = world_module()
    suite = load_suite(scenarios or default_scenarios(), only, loader_context(world))
    workdir = (workdir or default_workdir()).resolve()
    by_name = {s.name: s for s in suite}
    pols = {p.label: p for p in policies}

    def progress(o, n, total):  # type: ignore[no-untyped-def]
        if con is not None:
            r = judge(by_name[o.scenario], o, pols[o.policy])
            con.print(f"[{n}/{total}] {o.policy:<8} {o.scenario:<32} {r.status:<5} {o.seconds:5.0f}s"
                      + (f"  {r.error}" if r.error else ""), markup=False)

    if con is not None:
        con.print(f"{len(suite)} scenarios × {len(policies)} policies, {jobs or default_jobs()} at a time; "
                  f"run directories under {workdir}", markup=False)
    outcomes = run_all(world, suite, policies, workdir, jobs or default_jobs(), keep, progress)
    results = [judge(by_name[o.scenario], o, pols[o.policy]) for o in outcomes]
    return SuiteRun(policies, results, [summarize(p.label, results) for p in policies], workdir)


__all__ = ["REPO", "SuiteRun", "run_suite", "default_jobs", "default_workdir"]
