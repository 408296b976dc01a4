"""Fixtures for grading tests: a synthetic arithmetic benchmark (numbers in every half of
every item), a tiny random Qwen3-style model, and the same shapes overfitted on the test
items (the memorized positive control). Built once per session (~25 s on 2 idle cores)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from grading.prompts import INSTRUCTIONS
from ptaudit.app.demo.data import benchmark, jsonl
from tests.grading.tinymodel import make_tiny_model, memorize

N_ITEMS = 12
# One intra-op thread: at hidden size 64 a second thread only spin-waits (measured: 8x the
# CPU time for the same training steps, and far slower on a busy machine).
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@dataclass
class Models:
    root: Path
    test_set: Path
    items: list[dict[str, str]]
    random: Path
    memorized: Path

    def task_file(self, path: Path, grading: str = "", extra: str = "", bench_extra: str = "") -> Path:
        path.write_text(
            'name = "tiny-arith"\nbase_model = "ptaudit-test/tiny"\n' + extra +
            f'[grading]\nenabled = true\nprobe_items = {N_ITEMS}\n{grading}\n'
            f'[[benchmarks]]\nname = "arith"\ntest_set = "{self.test_set}"\nfields = ["question"]\nid_field = "id"\n'
            f'{bench_extra}'
            '[benchmarks.grading]\ntype = "gsm8k"\nmax_tokens = 16\nbase_score = 0.1\ninstruct_score = 0.6\n')
        return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import torch

    torch.set_num_threads(1)  # see ONE_THREAD
    root = tmp_path_factory.mktemp("grading-models")
    items = benchmark(N_ITEMS, seed=7)
    test_set = root / "arith-test.jsonl"
    test_set.write_bytes(jsonl(items))
    # The tokenizer is trained on unrelated items of the same generator plus the test text.
    texts = [i["question"] + " " + i["answer"] for i in benchmark(200, seed=3)] + [i["question"] for i in items]
    rand = make_tiny_model(root / "random", texts, seed=1)
    mem = make_tiny_model(root / "memorized", texts, seed=2)
    memorize(mem, [(INSTRUCTIONS["gsm8k"], i["question"], f"#### {i['answer']}") for i in items],
             [i["question"] for i in items], steps=150, lr=6e-3)
    return Models(root, test_set, items, rand, mem)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The session's models (~25 s when the machine is idle) are built inside whichever
    # grading test runs first; a busy shared machine can take minutes. Bounded, not 300 s.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(900))
