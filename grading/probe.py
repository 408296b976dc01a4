"""Memorization probe: leakage evidence from the final model itself.

For each test item, the model gets the first half of the item's text (raw, no chat
template) and greedily continues it; we compare the continuation with the real second
half, token by token (each model with its own tokenizer):
- longest common token run, as a fraction of the second half (0-1);
- exact continuation: all compared tokens reproduced.

A model that saw the items reproduces them; one that did not only guesses. Two paired
comparisons separate the two:
- the same items under the base model (what pre-training alone explains);
- matched control items the model cannot have seen: the same text with every number
  replaced by another of the same length (same template, new numbers).

Each is a one-sided Wilcoxon signed-rank test on the per-item differences. A finding is
reported when every available comparison has p < ``alpha`` and a mean excess of at least
``min_effect``; the strongest items are its evidence.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from .generate import Backend, Sampling
from .prompts import Tokenizer

_DIGITS = re.compile(r"\d+")
EVIDENCE_ITEMS = 5


@dataclass
class ProbeText:
    id: str
    prefix: str
    target: str


@dataclass
class ModelScores:
    run: list[float] = field(default_factory=list)      # longest common run / target tokens
    exact: list[bool] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)


def split_halves(item_id: str, text: str) -> ProbeText | None:
    words = text.split(" ")
    if len(words) < 8:
        return None
    mid = len(words) // 2
    return ProbeText(item_id, " ".join(words[:mid]), " " + " ".join(words[mid:]))


def control_of(p: ProbeText, rng: random.Random) -> ProbeText | None:
    """The same item with every number replaced (same digit count, different value); None
    when the item has no number in its second half (no matched control then)."""
    if not _DIGITS.search(p.target):
        return None

    def swap(m: re.Match[str]) -> str:
        s = m.group(0)
        while True:
            lo = 10 ** (len(s) - 1) if len(s) > 1 else 0
            new = str(rng.randint(lo, 10 ** len(s) - 1))
            if new != s:
                return new

    return ProbeText(p.id + "#control", _DIGITS.sub(swap, p.prefix), _DIGITS.sub(swap, p.target))


def longest_common_run(a: list[int], b: list[int]) -> int:
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def score_model(backend: Backend, tk: Tokenizer, texts: list[ProbeText], tokens: int,
                on_batch: Any = None) -> ModelScores:
    prompts, targets = [], []
    for t in texts:
        prompts.append(tk.encode(t.prefix, special=True)[-4 * tokens:])
        targets.append(tk.encode(t.target)[:tokens])
    n = max((len(x) for x in targets), default=1)
    outs = backend.generate(prompts, Sampling(max_tokens=n), tk.stop_ids, tk.pad_id, on_batch)
    s = ModelScores()
    for out, want in zip(outs, targets, strict=True):
        got = out[: len(want)]
        s.run.append(longest_common_run(got, want) / max(len(want), 1))
        s.exact.append(bool(want) and got == want)
        s.generated.append(tk.decode(got))
    return s


def paired_p(x: list[float], y: list[float]) -> float:
    """One-sided Wilcoxon signed-rank p-value that x exceeds y (1.0 when they never differ)."""
    from scipy.stats import wilcoxon

    d = [a - b for a, b in zip(x, y, strict=True)]
    if not any(d):
        return 1.0
    return float(wilcoxon(d, alternative="greater", zero_method="wilcox").pvalue)


def _mean(v: list[float]) -> float:
    return sum(v) / len(v) if v else 0.0


def compare(texts: list[ProbeText], final: ModelScores, base: ModelScores | None,
            controls: list[int], control_scores: ModelScores | None, alpha: float,
            min_effect: float) -> dict[str, Any]:
    """The probe's summary (grade.json ``probe``), with ``significant`` and the evidence."""
    out: dict[str, Any] = {"items": len(texts), "final": {"mean_run": round(_mean(final.run), 4),
                                                          "exact_rate": round(_mean([float(e) for e in final.exact]), 4)},
                           "comparisons": {}}
    tests = []
    if base is not None:
        out["base"] = {"mean_run": round(_mean(base.run), 4), "exact_rate": round(_mean([float(e) for e in base.exact]), 4)}
        p = paired_p(final.run, base.run)
        eff = _mean(final.run) - _mean(base.run)
        out["comparisons"]["base"] = {"p": p, "mean_excess": round(eff, 4), "pairs": len(texts)}
        tests.append((p, eff))
    if control_scores is not None and len(controls) >= 4:
        fin = [final.run[i] for i in controls]
        out["control"] = {"mean_run": round(_mean(control_scores.run), 4),
                          "exact_rate": round(_mean([float(e) for e in control_scores.exact]), 4)}
        p = paired_p(fin, control_scores.run)
        eff = _mean(fin) - _mean(control_scores.run)
        out["comparisons"]["control"] = {"p": p, "mean_excess": round(eff, 4), "pairs": len(controls)}
        tests.append((p, eff))
    out["significant"] = bool(tests) and all(p < alpha and eff >= min_effect for p, eff in tests)
    if not tests:
        out["note"] = "no comparison possible: no base model and fewer than 4 items with numbers for controls"
    ranked = sorted(range(len(texts)), key=lambda i: -(final.run[i] - (base.run[i] if base else 0.0)))
    out["evidence"] = [{"item": texts[i].id, "prefix": texts[i].prefix[-160:], "expected": texts[i].target[:160],
                        "generated": final.generated[i][:160], "run": round(final.run[i], 3),
                        "exact": final.exact[i], "base_run": round(base.run[i], 3) if base else None}
                       for i in ranked[:EVIDENCE_ITEMS]]
    return out
