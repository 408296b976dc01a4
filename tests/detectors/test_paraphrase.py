"""The paraphrase layer: the labelled fixture's precision and recall at the shipped
threshold, and the layer in a replayed run (off by default, beside the exact layer)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import RunBuilder, make_policy
from para_fixture import fixture, paraphrase, prf

from detectors.engine import replay
from detectors.leak_index import LeakIndex
from detectors.leak_norm import normalize_text
from detectors.leak_para import ParaIndex, ParaphraseScanner
from detectors.leakage import LeakageParams
from detectors.testset import TestItem


def _items(rows) -> list[TestItem]:  # type: ignore[no-untyped-def]
    return [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in rows]


def test_fixture_f1_at_the_shipped_threshold(test_rows) -> None:
    cases = fixture(test_rows)
    positives = [c for c in cases if c.item is not None]
    assert len(positives) >= 200 and len(cases) - len(positives) >= 200
    items = _items(test_rows)
    # n-gram methods score (almost) nothing on these: the exact layer finds few of them
    exact = LeakIndex(items)
    exact_found = sum(bool(exact.find(normalize_text(c.text))) for c in positives)
    assert exact_found < len(positives) // 4
    idx = ParaIndex(items)
    threshold = LeakageParams().semantic_threshold
    scanner = ParaphraseScanner({"gsm8k": idx}, threshold)
    found = scanner.compare([c.text for c in cases])
    predicted = [{idx.item_ids[i] for _, i, _ in f} for f in found]
    r = prf(cases, predicted)
    print(f"paraphrase fixture at {threshold}: {r}; exact layer alone finds {exact_found}/{len(positives)}")
    assert r["benign_fp"] == 0 and r["fp"] == 0
    assert r["f1"] >= 0.95, r


def test_paraphrase_layer_in_a_run(tmp_path: Path, task, test_rows, train_rows) -> None:
    import random

    rng = random.Random(3)
    rows = [{"prompt": r["question"], "response": r["answer"]} for r in train_rows[:60]]
    for r in test_rows[:6]:  # disguised copies
        rows.insert(rng.randrange(len(rows)), {"prompt": paraphrase(r["question"], rng), "response": "..."})
    for r in test_rows[10:12]:  # verbatim copies: the exact layer's
        rows.insert(rng.randrange(len(rows)), {"prompt": r["question"], "response": r["answer"]})
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    b = RunBuilder(tmp_path / "run", task)
    b.write_file("sft/mix.jsonl", data)
    b.close()
    off = replay(b.rd.path, make_policy(), task).findings
    assert [f.evidence[0]["items_hit"] for f in off] == [2]  # the layer is off by default
    on = replay(b.rd.path, make_policy(semantic=True), task).findings
    exact, para = on
    assert exact.evidence[0]["items_hit"] == 2 and "layer" not in exact.evidence[0]
    assert para.evidence[0]["layer"] == "paraphrase" and para.subject == "sft/mix.jsonl"
    assert set(para.evidence[0]["item_ids"]) == {r["id"] for r in test_rows[:6]}
    ev = para.evidence[1]
    assert ev["score"] >= LeakageParams().semantic_threshold and ev["path"][0] == "sft/mix.jsonl"
    assert ev["path"][1].startswith("line ") and ev["path"][2] == 'field "prompt"'
    assert ev["excerpt"] in data.decode() or json.dumps(ev["excerpt"])[1:-1] in data.decode()
    # replay reproduces it exactly
    again = replay(b.rd.path, make_policy(semantic=True), task).findings
    assert [f.model_dump() for f in again] == [f.model_dump() for f in on]
