"""The memorization probe flags the model trained on the test items and not the random one."""

from __future__ import annotations

import random
from pathlib import Path

from grading.grade import grade_model
from grading.probe import control_of, longest_common_run, paired_p, split_halves
from policies import load_policy, resolve
from ptaudit.core.task import load_task
from tests.grading.conftest import Models


def test_longest_common_run() -> None:
    assert longest_common_run([1, 2, 3, 4], [9, 2, 3, 4, 8]) == 3
    assert longest_common_run([1, 2], [3, 4]) == 0
    assert longest_common_run([], [1]) == 0


def test_controls_keep_the_template_and_change_every_number() -> None:
    p = split_halves("x", "Ana bought 12 pears on day 3 and then sold 45 of them to 7 friends at 2 pm")
    assert p is not None
    c = control_of(p, random.Random(0))
    assert c is not None and c.id == "x#control"
    old = [w for w in (p.prefix + p.target).split() if w.isdigit()]
    new = [w for w in (c.prefix + c.target).split() if w.isdigit()]
    assert len(old) == len(new) and all(a != b and len(a) == len(b) for a, b in zip(old, new, strict=True))
    assert [w for w in c.target.split() if not w.isdigit()] == [w for w in p.target.split() if not w.isdigit()]
    assert control_of(split_halves("y", "no numbers in this sentence at all, none, really none"),  # type: ignore[arg-type]
                      random.Random(0)) is None


def test_paired_p() -> None:
    assert paired_p([0.0] * 8, [0.0] * 8) == 1.0
    assert paired_p([1.0] * 10, [0.0] * 10) < 0.01
    assert paired_p([0.0] * 10, [1.0] * 10) > 0.5


def _probe(models: Models, tmp: Path, model: Path) -> tuple[dict, list]:
    task = load_task(models.task_file(tmp / "task.toml"))
    r = grade_model(model, task, load_policy(resolve("default")).grading, backend="transformers",
                    reference_dir=models.random)
    return r.doc, r.findings


def test_probe_flags_the_memorized_model(models: Models, tmp_path: Path) -> None:
    doc, findings = _probe(models, tmp_path, models.memorized)
    p = doc["probe"]["arith"]
    assert p["significant"] and p["final"]["exact_rate"] > 0.5
    assert p["comparisons"]["base"]["p"] < 0.01 and p["comparisons"]["control"]["p"] < 0.01
    (f,) = findings
    assert f.category == "test_set_leakage" and f.rule == "grade.memorization" and f.severity == "high"
    assert f.subject == "benchmark:arith"
    ids = {i["id"] for i in models.items}
    top = [e for e in f.evidence if "item" in e]
    assert top and all(e["item"] in ids for e in top) and top[0]["run"] > 0.5
    # the strongest example really is a reproduced test item
    item = next(i for i in models.items if i["id"] == top[0]["item"])
    assert top[0]["generated"].strip()[:40] in item["question"]
    assert doc["findings"][0]["id"] == f.id
    assert doc["benchmarks"]["arith"]["base_source"] == "measured"


def test_probe_does_not_flag_the_random_model(models: Models, tmp_path: Path) -> None:
    doc, findings = _probe(models, tmp_path, models.random)
    assert findings == [] and doc["probe"]["arith"]["significant"] is False
    assert doc["probe"]["arith"]["comparisons"]["base"]["p"] >= 0.01
