"""Grading one model directory on a task's benchmarks, then the gate (grade.json).

    result = grade_model(model_dir, task, policy.grading, backend="auto", reference_dir=base)
    doc = finalize(result, verdict="pass", log_head=head, on_fail="base")
    write_grade(rundir / "grade.json", doc)

Order: check both directories (nothing loads before that), build every prompt, then per
model (final, then the base when given) load once, generate every benchmark and the probe,
unload. Scoring, the aggregate and the probe's statistics follow; :func:`finalize` adds
the audit verdict and what may be reported under it.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptaudit.core.errors import InfraError, InputError
from ptaudit.core.findings import Finding, severity_rank
from ptaudit.core.rundir import write_atomic
from ptaudit.core.task import Benchmark, Task

from . import aggregate, probe
from .generate import Backend, Sampling, open_backend
from .items import Item, benchmark_items, few_shot_items
from .modeldir import ModelDirInfo, check_model_dir
from .progress import Progress
from .prompts import Tokenizer, build_prompt, load_tokenizer
from .scorers import score_aime, score_choice, score_gsm8k

GRADE_VERSION = 1
GRADE_JSON = "grade.json"
ITEMS_JSONL = "grade-items.jsonl"
PROBE_RULE = "grade.memorization"


@dataclass
class ModelRun:
    """One model's completions per benchmark and its probe scores."""

    completions: dict[str, list[str]] = field(default_factory=dict)
    probe: dict[str, probe.ModelScores] = field(default_factory=dict)
    control: dict[str, probe.ModelScores] = field(default_factory=dict)
    tokens: int = 0
    seconds: float = 0.0
    backend: str = ""


@dataclass
class Result:
    doc: dict[str, Any]
    items: list[dict[str, Any]]
    findings: list[Finding]


def graded(task: Task) -> list[Benchmark]:
    out = [b for b in task.benchmarks if b.grading is not None]
    if not out:
        raise InputError(f"task {task.name!r}: no benchmark has a grading table ([benchmarks.grading])")
    return out


def _score(kind: str, item: Item, completion: str) -> tuple[float, Any]:
    if kind == "gsm8k":
        return score_gsm8k(completion, item.reference)
    if kind == "aime":
        return score_aime(completion, item.reference)
    if kind == "multiple_choice":
        return score_choice(completion, item.reference, len(item.extra["choices"]))
    from .bfcl import score_bfcl

    return score_bfcl(completion, item.reference, item.extra.get("functions", []))


def score_benchmark(b: Benchmark, items: list[Item], completions: list[str]) -> list[tuple[float, Any]]:
    assert b.grading is not None
    if b.grading.type == "humaneval":
        from .humaneval import score_humaneval

        return score_humaneval(items, completions, b.grading.time_limit)
    return [_score(b.grading.type, it, c) for it, c in zip(items, completions, strict=True)]


def _probe_texts(task: Task, items: list[Item]) -> tuple[list[probe.ProbeText], list[int], list[probe.ProbeText]]:
    texts = [t for t in (probe.split_halves(it.id, it.question) for it in items) if t is not None]
    texts = texts[: task.grading.probe_items]
    rng = random.Random(0)  # fixed: the same controls on every model and every re-run
    controls, idx = [], []
    for i, t in enumerate(texts):
        c = probe.control_of(t, rng)
        if c is not None:
            controls.append(c)
            idx.append(i)
    return texts, idx, controls


def _run_model(model_dir: Path, task: Task, benches: list[Benchmark], items: dict[str, list[Item]],
               backend_name: str, progress: Progress | None, label: str, controls: bool,
               probe_sets: dict[str, tuple[list[probe.ProbeText], list[int], list[probe.ProbeText]]]) -> ModelRun:
    tk: Tokenizer = load_tokenizer(model_dir)
    shots = {b.name: few_shot_items(b) for b in benches}
    prompts = {b.name: [build_prompt(tk, b.grading.type, it, shots[b.name]) for it in items[b.name]]
               for b in benches if b.grading is not None}
    longest = max(len(p) + b.grading.max_tokens for b in benches if b.grading for p in prompts[b.name])
    longest = max(longest, 5 * task.grading.probe_tokens)  # probe prompts: up to 4 halves' worth
    cfg = json.loads((model_dir / "config.json").read_text())
    max_len = min(longest + 8, int(cfg.get("max_position_embeddings") or longest + 8))
    run = ModelRun()
    backend: Backend = open_backend(backend_name, model_dir, task.grading.batch_size, max_len)
    run.backend = backend.name

    def tick(n: int, toks: int) -> None:
        run.tokens += toks
        if progress is not None:
            progress.advance(n, toks)

    try:
        for b in benches:
            g = b.grading
            assert g is not None
            if progress is not None:
                progress.phase(f"{label} {b.name}", len(prompts[b.name]))
            t0 = time.monotonic()
            outs = backend.generate(prompts[b.name], Sampling(g.max_tokens, g.temperature, g.top_p), tk.stop_ids,
                                    tk.pad_id, tick)
            run.seconds += time.monotonic() - t0
            run.completions[b.name] = [tk.decode(o) for o in outs]
        for name, (texts, _idx, ctrl) in probe_sets.items():
            ctrl = ctrl if controls else []
            if progress is not None:
                progress.phase(f"{label} probe {name}", len(texts) + len(ctrl))
            t0 = time.monotonic()
            run.probe[name] = probe.score_model(backend, tk, texts, task.grading.probe_tokens, tick)
            if ctrl:
                run.control[name] = probe.score_model(backend, tk, ctrl, task.grading.probe_tokens, tick)
            run.seconds += time.monotonic() - t0
    finally:
        backend.close()
        if progress is not None:
            progress.done()
    return run


def _finding(name: str, summary: dict[str, Any], pg: Any) -> Finding:
    comp = summary["comparisons"]
    parts = [f"{k}: {v['mean_excess']:+.0%} more reproduced, p={v['p']:.2g}" for k, v in sorted(comp.items())]
    return Finding(id=hashlib.sha256(f"{PROBE_RULE}\0{name}".encode()).hexdigest()[:16], rule=PROBE_RULE,
                   detector="grading.probe", category="test_set_leakage", severity=pg.probe_severity,
                   action=pg.probe_action, subject=f"benchmark:{name}",
                   message=(f"the final model reproduces {name} test items it was prompted with half of "
                            f"({summary['final']['mean_run']:.0%} of the second half; " + "; ".join(parts) + ")"),
                   evidence=[{"probe": name, **{k: v for k, v in summary.items() if k != "evidence"}},
                             *summary["evidence"]])


def require() -> None:
    """Grading's libraries are an extra (``pip install 'ptaudit[grading]'``): say so, exit 3."""
    import importlib.util

    missing = [m for m in ("torch", "transformers", "safetensors", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        raise InfraError(f"grading needs {', '.join(missing)}: pip install 'ptaudit[grading]'")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ours shows items and tokens/s instead
    hf_logging.set_verbosity_error()


def grade_model(model_dir: Path, task: Task, pg: Any, backend: str = "auto", reference_dir: Path | None = None,
                progress: Progress | None = None) -> Result:
    """Grade ``model_dir`` (and ``reference_dir``, the base, when given). ``pg`` is the policy's
    grading table (probe thresholds). Raises ModelDirError (exit 2) for a refused directory."""
    require()
    benches = graded(task)
    weights, how = aggregate.weights({b.name: b.grading for b in benches if b.grading is not None})
    info: ModelDirInfo = check_model_dir(model_dir, task.grading.max_model_size)
    if reference_dir is not None:
        check_model_dir(reference_dir, task.grading.max_model_size)
    items = {b.name: benchmark_items(b) for b in benches}
    probe_sets = {b.name: _probe_texts(task, items[b.name]) for b in benches} if task.grading.probe else {}
    final = _run_model(info.path, task, benches, items, backend, progress, "final", True, probe_sets)
    base = (_run_model(reference_dir.resolve(), task, benches, items, backend, progress, "base", False, probe_sets)
            if reference_dir is not None else None)
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    acc: dict[str, float | None] = {}
    base_acc: dict[str, float | None] = {}
    for b in benches:
        g = b.grading
        assert g is not None
        scores = score_benchmark(b, items[b.name], final.completions[b.name])
        acc[b.name] = sum(s for s, _ in scores) / len(scores)
        base_src = None
        if base is not None:
            bscores = score_benchmark(b, items[b.name], base.completions[b.name])
            base_acc[b.name], base_src = sum(s for s, _ in bscores) / len(bscores), "measured"
        else:
            base_acc[b.name], base_src = g.base_score, ("reference" if g.base_score is not None else None)
        out[b.name] = {"type": g.type, "n": len(scores), "correct": int(sum(s for s, _ in scores)),
                       "accuracy": round(acc[b.name] or 0.0, 6), "weight": round(weights[b.name], 6),
                       "base_accuracy": None if base_acc[b.name] is None else round(base_acc[b.name] or 0.0, 6),
                       "base_source": base_src, "instruct_accuracy": g.instruct_score}
        for it, comp, (s, got) in zip(items[b.name], final.completions[b.name], scores, strict=True):
            rows.append({"benchmark": b.name, "id": it.id, "score": s, "extracted": got, "completion": comp[:4000]})
    probes: dict[str, Any] = {}
    findings: list[Finding] = []
    for name, (texts, idx, _controls) in probe_sets.items():
        if not texts:
            probes[name] = {"items": 0, "significant": False, "note": "no item long enough to split"}
            continue
        summary = probe.compare(texts, final.probe[name], base.probe[name] if base else None, idx,
                                final.control.get(name), pg.probe_alpha, pg.probe_min_effect)
        probes[name] = summary
        if summary["significant"]:
            findings.append(_finding(name, summary, pg))
    doc: dict[str, Any] = {
        "grade_version": GRADE_VERSION, "model_dir": str(info.path), "backend": final.backend, "task": task.name,
        "reference_dir": str(reference_dir.resolve()) if reference_dir else None,
        "benchmarks": out, "weighting": how, "aggregate": aggregate.weighted(acc, weights),
        "base_aggregate": aggregate.weighted(base_acc, weights),
        "tokens_per_s": round(final.tokens / final.seconds, 3) if final.seconds else 0.0,
        "generated_tokens": final.tokens, "generation_s": round(final.seconds, 3),
        "probe": probes or None, "findings": [f.model_dump() for f in findings], "error": None,
    }
    return Result(doc, rows, findings)


def failed(model_dir: Path, task: Task, error: str) -> Result:
    """The document for a grading that could not run (refused directory, no backend...)."""
    doc = {"grade_version": GRADE_VERSION, "model_dir": str(model_dir), "backend": None, "task": task.name,
           "reference_dir": None, "benchmarks": {}, "weighting": None, "aggregate": None, "base_aggregate": None,
           "tokens_per_s": 0.0, "generated_tokens": 0, "generation_s": 0.0, "probe": None, "findings": [],
           "error": error}
    return Result(doc, [], [])


def finalize(result: Result, verdict: str | None, log_head: str | None, on_fail: str,
             fail_on: str | None = None) -> dict[str, Any]:
    """grade.json: the result plus the audit it stands on and what may be reported. The
    probe is audit evidence too: its findings at or above ``fail_on`` fail a passing verdict
    (inside ``ptaudit run`` they are already part of it)."""
    doc = dict(result.doc)
    probe_fail = fail_on is not None and any(severity_rank(f.severity) >= severity_rank(fail_on)
                                             for f in result.findings)
    doc["verdict_sources"] = {"run": verdict, "probe": "fail" if probe_fail else "pass"}
    if probe_fail and verdict == "pass":
        verdict = "fail"
    doc["audit"] = {"verdict": verdict, "log_head": log_head, "on_fail": on_fail}
    doc["reported"] = aggregate.gate(doc["aggregate"], doc["base_aggregate"], verdict, on_fail)
    return doc


def write_grade(path: Path, doc: dict[str, Any], items: list[dict[str, Any]] | None = None) -> None:
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True, default=str).encode() + b"\n")
    if items is not None:
        write_atomic(path.with_name(ITEMS_JSONL),
                     b"".join(json.dumps(r, sort_keys=True, default=str).encode() + b"\n" for r in items))
