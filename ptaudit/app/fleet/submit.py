"""``fleet submit``: make the fleet match the plan. Runs never submitted are submitted; runs
whose latest attempt did not complete are resubmitted while attempts are left; runs done,
running or queued are left alone. So submitting the same plan again is how a fleet is
resumed, and ``--wait`` keeps doing it until every run is done, failed or in error.
"""

from __future__ import annotations

from collections.abc import Callable

from .executors import Executor
from .plan import Plan
from .state import RunState, classify
from .store import FleetMeta, FleetStore


def drive(store: FleetStore, meta: FleetMeta, executor: Executor, wait: bool, poll_s: float = 10.0,
          on_update: Callable[[list[RunState]], None] | None = None) -> list[RunState]:
    while True:
        states = classify(store, meta, {executor.name: executor})
        want = [s.run for s in states if s.wants_submit]
        if executor.slots is not None:
            want = want[:max(0, executor.slots - executor.running())]
        if want:
            executor.submit(want)
            states = classify(store, meta, {executor.name: executor})
        if on_update is not None:
            on_update(states)
        if not wait:
            return states
        if all(s.terminal for s in states):
            if executor.running():  # local jobs that wrote their end and are exiting
                executor.close()
                states = classify(store, meta, {executor.name: executor})
            return states
        executor.wait(poll_s)


def open_fleet(plan: Plan, out: str | None) -> tuple[FleetStore, FleetMeta]:
    from pathlib import Path

    store = FleetStore(Path(out) if out else plan.out)
    return store, store.ensure(plan)
