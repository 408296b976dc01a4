"""Fleets: many audited runs (agents × tasks × seeds) on Slurm, on this machine, or as
Kubernetes Jobs, and one table of them all (docs/fleet.md).

    plan = load_plan("plan.toml")                       # plan.py: strict TOML
    store, meta = open_fleet(plan, None)                # store.py: the fleet directory
    drive(store, meta, make_executor("local", ...), wait=True)   # submit.py, executors/
    states = classify(store, meta, executors)           # state.py
    checked = check_fleet(store, states)                # collect.py: verify --head, report check
    tables = aggregate(store, meta, states, checked)    # aggregate.py: DuckDB over report.json
"""

from .aggregate import Tables, aggregate
from .collect import CheckedAttempt, check_fleet
from .executors import make_executor
from .plan import Plan, load_plan
from .state import RunState, classify
from .store import FleetMeta, FleetStore
from .submit import drive, open_fleet

__all__ = ["CheckedAttempt", "FleetMeta", "FleetStore", "Plan", "RunState", "Tables", "aggregate", "check_fleet",
           "classify", "drive", "load_plan", "make_executor", "open_fleet"]
