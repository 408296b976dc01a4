"""Grading settings in task and policy files: strict, with errors that name key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import load_policy, resolve
from ptaudit.core.errors import InputError
from ptaudit.core.task import load_task


def _task(tmp: Path, grading: str) -> Path:
    (tmp / "test.jsonl").write_text('{"question": "q", "answer": "1"}\n')
    f = tmp / "task.toml"
    f.write_text('name = "t"\nbase_model = "org/base"\n[[benchmarks]]\nname = "g"\ntest_set = "test.jsonl"\n'
                 f'fields = ["question"]\n[benchmarks.grading]\n{grading}')
    return f


def test_grading_table_loads_and_resolves_paths(tmp_path: Path) -> None:
    (tmp_path / "shots.jsonl").write_text('{"question": "q", "answer": "1"}\n')
    t = load_task(_task(tmp_path, 'type = "gsm8k"\nfew_shot = 1\nfew_shot_set = "shots.jsonl"\ntime_limit = "5s"\n'))
    g = t.benchmarks[0].grading
    assert g is not None and g.few_shot_set == (tmp_path / "shots.jsonl").resolve() and g.time_limit == 5.0
    assert t.grading.enabled is False and t.grading.backend == "auto"


@pytest.mark.parametrize(("grading", "expected"), [
    ('type = "gsm8k"\nmax_tokns = 5\n', 'unknown key "max_tokns"'),
    ('type = "mmlu"\n', "type"),
    ('type = "gsm8k"\nfew_shot = 2\n', "few_shot needs few_shot_set"),
    ('type = "gsm8k"\nfew_shot = 1\nfew_shot_set = "nope.jsonl"\n', "grading.few_shot_set .* does not exist"),
    ('type = "gsm8k"\nbase_score = 0.5\ninstruct_score = 0.5\n', "instruct_score must be above base_score"),
])
def test_bad_grading_tables(tmp_path: Path, grading: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_task(_task(tmp_path, grading))


def test_policy_grading_defaults_and_errors(tmp_path: Path) -> None:
    assert load_policy(resolve("default")).grading.on_fail == "base"
    assert load_policy(resolve("strict")).grading.on_fail == "withhold"
    bad = tmp_path / "p.toml"
    bad.write_text('version = 1\nname = "x"\n[grading]\non_fail = "ignore"\n')
    with pytest.raises(InputError, match="on_fail"):
        load_policy(bad)


def test_grading_enabled_needs_a_graded_benchmark(tmp_path: Path) -> None:
    f = _task(tmp_path, 'type = "gsm8k"\n')
    f.write_text(f.read_text().split("[benchmarks.grading]")[0] + "[grading]\nenabled = true\n")
    with pytest.raises(InputError, match="grading.enabled needs at least one benchmark"):
        load_task(f)
