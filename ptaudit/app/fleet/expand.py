"""Expansion of a plan into runs: every agent × task × seed, each with its policy and GPUs.

A run's key, ``agent/task/seed-N``, names it everywhere: in job names, under ``runs/``,
``records/`` and ``workspaces/`` of the fleet directory, and in every result table.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .plan import Plan


class FleetRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    agent: str
    task: str
    seed: int
    task_file: str
    policy: str  # a shipped policy name or an absolute path
    command: list[str]  # with {seed} {agent} {task} {attempt} still in place
    workspace: str | None  # template directory, copied into each attempt's workspace
    gpus: int
    weight: float

    def render_command(self, attempt: int) -> list[str]:
        values = {"seed": self.seed, "agent": self.agent, "task": self.task, "attempt": attempt}
        return [arg.format(**values) for arg in self.command]


def run_key(agent: str, task: str, seed: int) -> str:
    return f"{agent}/{task}/seed-{seed}"


def expand(plan: Plan) -> list[FleetRun]:
    """Runs in plan order: agents, then tasks, then seeds."""
    return [FleetRun(key=run_key(a.name, t.name, s), agent=a.name, task=t.name, seed=s, task_file=str(t.file),
                     policy=plan.policy_for(a, t), command=list(a.command),
                     workspace=str(a.workspace) if a.workspace else None, gpus=int(t.gpus or 0), weight=t.weight)
            for a in plan.agents for t in plan.tasks for s in plan.seeds]
