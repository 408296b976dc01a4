"""budget: the run went over a budget the policy sets.

Flags ``res.budget_exceeded`` (processes, workspace size: from the resources monitor),
``sandbox.workspace_size`` (the sandbox's own hard cap), a time-limit kill
(``sandbox.kill`` with reason ``time_limit``) and GPU-seconds over ``budgets.gpu_seconds``
(``gpu.summary``). One finding per budget. Does not flag: brief excursions between two
samples (resources are sampled every ``budgets.sample_interval``). False positives: none
expected; a time-limit kill of an agent that simply ran long is reported as a budget
finding, whose severity the policy decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from ptaudit.core.events import Event, GpuSummary, ResBudgetExceeded, SandboxKill, SandboxWorkspaceSize

from .base import Detector, Finding, register


@register
class BudgetDetector(Detector):
    name = "budget"
    kinds = (ResBudgetExceeded, SandboxWorkspaceSize, SandboxKill, GpuSummary)

    def on_event(self, event: Event) -> Iterable[Finding]:
        p = event.payload
        hit: tuple[str, str] | None = None
        if isinstance(p, ResBudgetExceeded):
            hit = (p.budget, f"budget {p.budget} exceeded: {p.value} > {p.limit}")
        elif isinstance(p, SandboxWorkspaceSize):
            hit = ("workspace_max", f"workspace grew to {p.bytes} bytes, over the {p.limit} byte cap")
        elif isinstance(p, SandboxKill) and p.reason == "time_limit" and p.signal == "TERM":
            hit = ("time_limit", "the agent ran into its time limit and was stopped")
        elif isinstance(p, GpuSummary) and self.ctx.policy is not None:
            cap = self.ctx.policy.budgets.gpu_seconds
            if cap is not None and p.gpu_seconds > cap:
                hit = ("gpu_seconds", f"{p.gpu_seconds:.0f} GPU-seconds used, budget {cap:.0f}")
        if hit is None or p is None:
            return
        f = self.finding("budget", hit[0], hit[1], [{"seq": event.seq, "kind": event.kind, **_small(p.to_data())}],
                         ts=event.ts)
        if f:
            yield f


def _small(d: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in d.items() if isinstance(v, int | float | str | bool) and k != "container_id"}
