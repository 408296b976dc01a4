"""The vectorised matcher finds exactly what the previous, set-based one found (stages 1-2
only filter; stage 3 decides), on copied, re-cased and look-alike text, under several
parameter sets; and the chunked scan equals the previous engine end to end."""

from __future__ import annotations

import json
import random

import pytest
from gsm_synth import benign_math

from detectors.leak_index import LeakIndex
from detectors.leak_norm import normalize_bytes, unescape
from detectors.leak_scan import Scanner
from detectors.testset import TestItem


def _text(test_rows, train_rows) -> bytes:  # type: ignore[no-untyped-def]
    rng = random.Random(4)
    parts = [benign_math(200, seed=31)]
    for r in train_rows[:200] + test_rows[:30]:
        q = r["question"]
        if rng.random() < 0.3:
            q = q.upper()
        if rng.random() < 0.3:  # a fragment only: some shorter than char_window
            s = rng.randrange(len(q))
            q = q[s:s + rng.randrange(10, 120)]
        parts.append(json.dumps({"text": q, "answer": r["answer"]}))
    rng.shuffle(parts)
    return "\n".join(parts).encode()


@pytest.mark.parametrize("kw", [{}, {"anchor": 12, "char_window": 30}, {"anchor": 24, "char_window": 100},
                                {"anchor": 8, "char_window": 16}])
def test_find_equals_the_previous_matcher(test_rows, train_rows, kw) -> None:
    items = [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test_rows]
    idx = LeakIndex(items, **kw)
    data = _text(test_rows, train_rows)
    for i in range(0, len(data), 1 << 16):
        norm = normalize_bytes(unescape(data[i:i + (1 << 16)]))
        assert idx.find(norm) == idx.find_v1(norm)
    whole = normalize_bytes(unescape(data))
    hits = idx.find(whole)
    assert hits == idx.find_v1(whole) and len({h.item for h in hits}) >= 20


def test_scan_equals_the_previous_engine(test_rows, train_rows) -> None:
    items = [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test_rows]
    idx = LeakIndex(items)
    data = _text(test_rows, train_rows) * 3
    new = Scanner({"b": idx}).scan_bytes(data, "x.jsonl")
    old = Scanner({"b": idx}, engine="v1").scan_bytes(data, "x.jsonl")
    assert {k: (h.length, h.offset) for k, h in new.hits["b"].items()} == \
        {k: (h.length, h.offset) for k, h in old.hits["b"].items()}
