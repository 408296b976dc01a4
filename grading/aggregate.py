"""PostTrainBench-style aggregate and the audit gate.

Weights: a benchmark's ``weight`` when the task sets one, else 1/(instruct - base) from
its reference scores (a benchmark where post-training gains little counts more per
point), normalised to sum to 1. With no weights and no reference scores anywhere, every
benchmark counts equally. Mixing the two is refused: the weights would mean nothing.

The gate: a score is *counted* only under an audit verdict of "pass". Any other verdict
(fail, incomplete, no audit at all) applies the policy's ``on_fail``: ``withhold`` (no
score), ``base`` (the base model's score instead, PostTrainBench's rule) or ``flag``
(reported, marked).
"""

from __future__ import annotations

from ptaudit.core.errors import InputError
from ptaudit.core.task import BenchmarkGrading

# The paper's published weights (arXiv 2603.08640), for reference in docs and tasks.
POSTTRAINBENCH_WEIGHTS = {"aime": 0.2265, "arena": 0.0904, "bfcl": 0.0746, "gpqa": 0.2246, "gsm8k": 0.0936,
                          "healthbench": 0.1841, "humaneval": 0.1061}
STATUS = {"withhold": "withheld", "base": "base_substituted", "flag": "flagged"}


def weights(configs: dict[str, BenchmarkGrading]) -> tuple[dict[str, float], str]:
    """(normalised weight per benchmark, how they were chosen: explicit|reference|equal)."""
    raw: dict[str, float | None] = {}
    for name, g in configs.items():
        if g.weight is not None:
            raw[name] = g.weight
        elif g.base_score is not None and g.instruct_score is not None:
            raw[name] = 1.0 / (g.instruct_score - g.base_score)
        else:
            raw[name] = None
    given = [n for n, w in raw.items() if w is not None]
    if not given:
        return {n: 1.0 / len(configs) for n in configs}, "equal"
    if len(given) != len(raw):
        missing = ", ".join(sorted(n for n, w in raw.items() if w is None))
        raise InputError(f"grading weights: give weight or base_score/instruct_score for every graded benchmark "
                         f"(missing: {missing})")
    total = sum(w for w in raw.values() if w is not None)
    how = "explicit" if all(configs[n].weight is not None for n in configs) else "reference"
    return {n: (w or 0.0) / total for n, w in raw.items()}, how


def weighted(acc: dict[str, float | None], w: dict[str, float]) -> float | None:
    """Weighted mean of the accuracies; None when any is missing (no partial aggregate)."""
    if not acc or any(acc.get(n) is None for n in w):
        return None
    return round(sum(w[n] * float(acc[n] or 0.0) for n in w), 6)


def gate(aggregate: float | None, base_aggregate: float | None, verdict: str | None,
         on_fail: str) -> dict[str, object]:
    """grade.json ``reported``: what may be published under this audit verdict."""
    if verdict == "pass":
        return {"aggregate": aggregate, "status": "counted" if aggregate is not None else "withheld"}
    status = STATUS[on_fail]
    value = {"withhold": None, "base": base_aggregate, "flag": aggregate}[on_fail]
    return {"aggregate": value, "status": status}
