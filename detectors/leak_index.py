"""The leakage index: every test item's normalised text, and every anchor of it.

Method. Each indexed field of each item is normalised (``leak_norm``) and all of them are
joined into one corpus, separated by a byte normalisation never produces. Every
``anchor``-byte substring of the corpus is an anchor (bytes -> corpus offsets). Scanned
text is normalised the same way and only every ``stride``-th anchor-sized slice of it is
looked up. Any common substring of at least ``stride + anchor - 1`` bytes contains one
sampled slice, so with ``stride = char_window - anchor + 1`` every ``char_window``-byte
match is seen. ``find`` works in three stages, the first two without a Python-level loop
over the text:

1. the sampled slices are cut by ``struct`` (one C call per ~4 KiB) and intersected with
   the anchor set (one C call per chunk); a chunk without a hit ends here;
2. a hit at p can only start a counting match (>= char_window) if the text agrees with
   the same field ``half = stride // 2`` bytes beyond the anchor on one side, i.e. if
   ``text[p:p+anchor+half]`` or ``text[p-half:p+anchor]`` is a window of some field: both
   are hashed and tested against the set of all such windows, in bulk. This drops the
   hits that text merely sharing the benchmark's phrasing produces (~7% of slices on
   same-generator math text) before any per-hit Python work;
3. what is left is verified and extended both ways by binary search over slice
   comparisons; the match counts when it reaches ``char_window`` normalised characters,
   or covers ``ngram`` whole words of the item, or the whole field.

Stage 2 keeps exactly the hits whose per-offset check in stage 3 could pass, so the
result equals a per-hit verification of every sampled anchor.

Memory: a 1,300-item test set (~0.5 M normalised characters) takes ~175 MB of process
RSS (the stage-2 window set is most of the increase over the ~100 MB of the previous
version). Indexes are memoised per process by the test set's hash
and the parameters, since several rules may share one.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress
from operator import or_
from struct import Struct

import numpy as np

from .leak_norm import words
from .testset import TestItem

SEP = b"\x00"  # normalisation deletes NUL, so it never occurs inside a field


@dataclass(frozen=True)
class Hit:
    """One verified common substring between scanned text and a test item field."""

    item: int  # index into LeakIndex.item_ids
    field: str
    start: int  # offset in the scanned normalised text
    length: int  # normalised bytes in common
    words: int  # whole item words covered
    doc_start: int = 0  # offset of the common part in the item field's normalised text


def _common_prefix(a: bytes, ai: int, b: bytes, bi: int, limit: int) -> int:
    """Largest m <= limit with a[ai:ai+m] == b[bi:bi+m]."""
    lo, hi = 0, 1
    while hi <= limit and a[ai:ai + hi] == b[bi:bi + hi]:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[ai:ai + mid] == b[bi:bi + mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _common_suffix(a: bytes, ai: int, b: bytes, bi: int, limit: int) -> int:
    """Largest m <= limit with a[ai-m:ai] == b[bi-m:bi]."""
    lo, hi = 0, 1
    while hi <= limit and a[ai - hi:ai] == b[bi - hi:bi]:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[ai - mid:ai] == b[bi - mid:bi]:
            lo = mid
        else:
            hi = mid
    return lo


def _sampler(a: int, st: int) -> Callable[[bytes], list[bytes]]:
    """A function returning text[i:i+a] for i = 0, st, 2*st, ... (while i + a <= len)."""
    if st < a:  # overlapping slices: struct cannot cut them
        return lambda text: [text[i:i + a] for i in range(0, len(text) - a + 1, st)]
    unit = Struct(f"{a}s{st - a}x" * max(1, 4096 // st))  # ~4 KiB of text per unpacked tuple

    def sample(text: bytes) -> list[bytes]:
        n = len(text)
        full = n // unit.size * unit.size
        out = list(chain.from_iterable(unit.iter_unpack(memoryview(text)[:full]))) if full else []
        out += [text[i:i + a] for i in range(full, n - a + 1, st)]
        return out

    return sample

# -- vectorised hashing of byte windows ---------------------------------------------------
# A window of L >= 8 bytes at p is hashed from the 8-byte little-endian words at
# p, p+8, ..., p+L-8 (the last one overlaps when 8 does not divide L), each multiplied by
# its own odd constant, xor-ed and mixed. Index and scan use the same function, so equal
# windows hash equally; unequal ones collide only by chance (the exact check follows).
_MULS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                  0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
                  0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63, 0x9FB21C651E98DF25, 0xA24BAED4963EE407,
                  0x9E6C63D0676A9A99, 0xE9846AF9B1A615D5, 0xF1357AEA2E62A9C5, 0x4CF5AD432745937F], dtype=np.uint64)
_BITS = 25  # bitmap of 2**25 bits (4 MiB): ~1.3% filled by 424 K anchors


def _word_offsets(length: int) -> list[int]:
    offs = list(range(0, length - 7, 8))
    if length % 8:
        offs.append(length - 8)
    return offs


def _hash_at(words: np.ndarray, pos: np.ndarray, length: int) -> np.ndarray:
    """Hashes of the ``length``-byte windows starting at ``pos`` (``words``: the uint64 at
    every byte offset of the text)."""
    offs = _word_offsets(length)
    if len(offs) > len(_MULS):
        raise ValueError(f"window of {length} bytes is longer than the hash supports")
    with np.errstate(over="ignore"):
        h = words[pos + offs[0]] * _MULS[0]
        for k, o in enumerate(offs[1:], 1):
            h ^= words[pos + o] * _MULS[k]
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    return h


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    bits = np.zeros(1 << (_BITS - 3), dtype=np.uint8)
    idx = hashes >> np.uint64(64 - _BITS)
    np.bitwise_or.at(bits, (idx >> np.uint64(3)).astype(np.int64), (np.uint8(1) << (idx & np.uint64(7)).astype(np.uint8)))
    return bits


def _probe(bits: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    idx = hashes >> np.uint64(64 - _BITS)
    return ((bits[(idx >> np.uint64(3)).astype(np.int64)] >> (idx & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)


def _keys_hashes(keys: list[bytes], a: int) -> np.ndarray:
    if not keys:
        return np.zeros(0, dtype=np.uint64)
    blob = b"".join(keys)
    words = np.ndarray((len(blob) - 7,), dtype="<u8", buffer=blob, offset=0, strides=(1,))
    return _hash_at(words, np.arange(0, len(blob), a, dtype=np.int64), a)


def _window_hashes(corpus: bytes, starts: Sequence[int], lengths: Sequence[int], w: int,
                   allowed: np.ndarray | None = None) -> np.ndarray:
    """Hashes of every ``w``-byte window inside each field (``allowed``: per corpus offset,
    whether a window starting there counts)."""
    if len(corpus) < 8:
        return np.zeros(0, dtype=np.uint64)
    words = np.ndarray((len(corpus) - 7,), dtype="<u8", buffer=corpus, offset=0, strides=(1,))
    pos = [np.arange(s, s + d - w + 1, dtype=np.int64) for s, d in zip(starts, lengths, strict=True) if d >= w]
    if not pos:
        return np.zeros(0, dtype=np.uint64)
    p = np.concatenate(pos)
    if allowed is not None:
        p = p[allowed[p]]
    return _hash_at(words, p, w)


class LeakIndex:
    """Normalised test items of one benchmark and the anchor table over them."""

    def __init__(self, items: Sequence[TestItem], anchor: int = 20, char_window: int = 50, ngram: int = 13,
                 max_anchor_docs: int = 4):
        if anchor < 8 or char_window < anchor:
            raise ValueError(f"need 8 <= anchor ({anchor}) <= char_window ({char_window})")
        self.anchor, self.char_window, self.ngram = anchor, char_window, ngram
        self.stride = char_window - anchor + 1
        self.item_ids = [it.id for it in items]
        self.item_texts = [it.texts for it in items]  # for the evidence (item text beside the excerpt)
        self.n_items = len(items)
        docs: list[bytes] = []
        self._doc_item: list[int] = []
        self._doc_field: list[str] = []
        self._bounds: list[list[int]] = []  # per doc: word start offsets + doc length
        for i, it in enumerate(items):
            for field, text in it.texts.items():
                ws = words(text)
                bounds, pos = [], 0
                for w in ws:
                    bounds.append(pos)
                    pos += len(w)
                bounds.append(pos)
                docs.append(b"".join(ws))
                self._doc_item.append(i)
                self._doc_field.append(field)
                self._bounds.append(bounds)
        self.corpus = SEP + SEP.join(docs) + SEP
        self._starts: list[int] = []
        pos = 1
        for d in docs:
            self._starts.append(pos)
            pos += len(d) + 1
        self.max_doc = max((len(d) for d in docs), default=0)
        # anchor bytes -> corpus offset, or a list of offsets (anchors in several places)
        self._table: dict[bytes, int | list[int]] = {}
        self.stop_anchors = 0
        c, a = self.corpus, anchor
        stop = bytearray(len(c))
        table = self._table
        for start, d in zip(self._starts, docs, strict=True):
            for off in range(start, start + len(d) - a + 1):
                key = c[off:off + a]
                prev = table.setdefault(key, off)
                if prev != off:
                    if isinstance(prev, int):
                        table[key] = [prev, off]
                    else:
                        prev.append(off)
        # Stop anchors: a substring in many fields is a stock phrase of the benchmark
        # ("how much money does she have left"), the first thing similar but clean text
        # shares. Dropping it keeps benign math text cheap; a copied item still hits its
        # other anchors.
        for key, offs in list(table.items()):
            if isinstance(offs, list) and len({bisect_right(self._starts, o) for o in offs}) > max_anchor_docs:
                del table[key]
                self.stop_anchors += 1
                for o in offs:
                    stop[o:o + a] = b"\x01" * a
        # Stage 1 probes this set (bytes keys: the scanned slices' hashes are computed
        # once, in C, and reused by stage 2).
        self._anchors = frozenset(table)
        # Stage 2 (bulk candidate rejection): every window of ``anchor + half`` bytes of
        # every field, hashed. A sampled anchor can only start a counting match if the
        # text also agrees with the field ``half`` bytes to its right or to its left
        # (see ``find``); anchors of fields shorter than ``char_window`` skip this test.
        self.half = (self.char_window - a + 1) // 2
        w = a + self.half
        self._ext = frozenset(map(hash, [c[o:o + w] for start, d in zip(self._starts, docs, strict=True)
                                         for o in range(start, start + len(d) - w + 1)]))
        self._short = frozenset(c[o:o + a] for start, d in zip(self._starts, docs, strict=True)
                                if len(d) < self.char_window for o in range(start, start + len(d) - a + 1)
                                if c[o:o + a] in table)
        self._sampler = _sampler(a, self.stride)
        # The vector path's bitmaps (same content as the three sets above, hashed).
        self._bits1 = _bitmap(_keys_hashes(list(table), a))
        lens = [len(d) for d in docs]
        self._bits2 = _bitmap(_window_hashes(c, self._starts, lens, w)) if w <= 8 * len(_MULS) else None
        self._bits_short = _bitmap(_keys_hashes(list(self._short), a)) if self._short else None
        # Prefix sums: stock-phrase bytes before each corpus offset, and clean (stock-free)
        # words before each word of each field. Matches are measured without them.
        self._stop_cov = array("i", accumulate(stop, initial=0))
        self._clean_words: list[array[int]] = []
        for start, bounds in zip(self._starts, self._bounds, strict=True):
            cov = self._stop_cov
            flags = (cov[start + e] - cov[start + b] == 0 for b, e in zip(bounds, bounds[1:], strict=False))
            self._clean_words.append(array("i", accumulate(flags, initial=0)))

    def __len__(self) -> int:
        return len(self._table)

    def find_v1(self, text: bytes) -> list[Hit]:
        """The previous implementation of :meth:`find` (stages 1-2 with Python sets), kept
        as the reference for the differential test and the bench. Same result."""
        a, st = self.anchor, self.stride
        n = len(text)
        if n < a or not self._table:
            return []
        # Stage 1: every stride-th anchor-sized slice, cut in C (struct), probed as a set.
        samples = self._sampler(text)
        found = self._anchors.intersection(samples)
        if not found:
            return []
        cand = list(compress(range(0, n, st), map(found.__contains__, samples)))
        keys = [text[p:p + a] for p in cand]
        # Stage 2, in bulk: a counting match around a sampled anchor at p is at least
        # char_window long, so it extends at least ``half`` bytes to the right of the
        # anchor or to its left. Keep p only if text[p:p+a+half] or text[p-half:p+a] is a
        # window of some field (its anchor part is then this anchor, at one of its
        # offsets: exactly the per-offset test ``_verify`` starts with), or if the anchor
        # occurs in a field shorter than char_window (which ``_verify`` does not test).
        h, ext = self.half, self._ext
        w = a + h
        ok = map(or_, map(ext.__contains__, map(hash, [text[p:p + w] for p in cand])),
                 map(ext.__contains__, map(hash, [text[p - h:p + a] for p in cand])))
        if self._short:
            ok = map(or_, ok, map(self._short.__contains__, keys))
        sel = list(ok)
        if cand[0] < h:  # the left slice is cut short at the text's start: not tested
            sel[0] = True
        keep = list(compress(zip(cand, keys, strict=True), sel))
        return self._stage3(text, keep) if keep else []

    def find(self, text: bytes) -> list[Hit]:
        """Every verified match in normalised ``text``, in text order (one per item field
        and text region; overlapping slices of one region are verified once).

        Stages 1 and 2 run vectorised (numpy) over every ``stride``-th position: the
        anchor-sized slice and the two stage-2 windows are hashed from 8-byte loads and
        probed in bitmaps built from the same hashes of the index (a bitmap can only
        admit more, never fewer, positions than the exact sets). The few positions left
        are checked against the exact anchor table and verified as in :meth:`find_v1`,
        so the result is the same."""
        a, st = self.anchor, self.stride
        n = len(text)
        if n < a or not self._table:
            return []
        if n < a + 16:  # too short for the 8-byte loads of the vector path
            return self.find_v1(text)
        words = np.ndarray((n - 7,), dtype="<u8", buffer=text, offset=0, strides=(1,))
        m = (n - a) // st + 1
        pos = np.arange(0, m * st, st, dtype=np.int64)
        sel = _probe(self._bits1, _hash_at(words, pos, a))
        if not sel.any():
            return []
        pos = pos[sel]
        h, w = self.half, a + self.half
        if self._bits2 is None:  # windows too long to hash: the exact sets decide alone
            keep = np.ones(len(pos), dtype=bool)
        else:
            keep = np.zeros(len(pos), dtype=bool)
            right = pos + w <= n
            keep[right] = _probe(self._bits2, _hash_at(words, pos[right], w))
            left = pos >= h
            keep[left] |= _probe(self._bits2, _hash_at(words, pos[left] - h, w))
            keep[~left] = True  # the left window is cut short at the text's start: not tested
        if self._bits_short is not None:
            keep |= _probe(self._bits_short, _hash_at(words, pos, a))
        table = self._table
        cand = [(p, key) for p in pos[keep].tolist() if (key := text[p:p + a]) in table]
        if not cand:
            return []
        ext, short = self._ext, self._short
        cand = [(p, key) for p, key in cand
                if key in short or p < h or hash(text[p:p + w]) in ext or hash(text[p - h:p + a]) in ext]
        return self._stage3(text, cand) if cand else []

    def _stage3(self, text: bytes, keep: list[tuple[int, bytes]]) -> list[Hit]:
        """Stage 3: verify and extend what is left (rare outside copied text)."""
        a = self.anchor
        hits: list[Hit] = []
        covered = -1  # text offset up to which a verified match already spans
        table = self._table
        for p, key in keep:
            if p + a <= covered:
                continue
            offs = table[key]
            for c in (offs if isinstance(offs, list) else (offs,)):
                hit = self._verify(text, p, c)
                if hit is not None:
                    hits.append(hit)
                    covered = max(covered, hit.start + hit.length)
        return hits

    def _doc_len(self, c: int) -> int:
        return self._bounds[bisect_right(self._starts, c) - 1][-1]

    def _verify(self, text: bytes, p: int, c: int) -> Hit | None:
        a, corpus = self.anchor, self.corpus
        if text[p:p + a] != corpus[c:c + a]:
            return None  # (cannot differ: anchors are looked up by their bytes)
        # Cheap reject: a counting match is at least char_window long, so it extends at
        # least half the missing length one way (short whole fields excepted).
        h = (self.char_window - a + 1) // 2
        if (text[p + a:p + a + h] != corpus[c + a:c + a + h] and text[p - h:p] != corpus[c - h:c]
                and self._doc_len(c) >= self.char_window):
            return None
        back = _common_suffix(text, p, corpus, c, min(p, c))
        fwd = _common_prefix(text, p + a, corpus, c + a, min(len(text) - p - a, len(corpus) - c - a))
        doc = bisect_right(self._starts, c) - 1
        s0 = self._starts[doc]
        dstart, dend = c - back - s0, c + a + fwd - s0
        bounds = self._bounds[doc]
        first = bisect_left(bounds, dstart)
        last = bisect_right(bounds, dend) - 1
        clean = self._clean_words[doc]
        nwords = max(0, last - first)
        info_words = clean[last] - clean[first] if last > first else 0
        length = back + a + fwd
        info_chars = length - (self._stop_cov[s0 + dend] - self._stop_cov[s0 + dstart])
        whole = dstart == 0 and dend == bounds[-1]
        if info_chars < self.char_window and info_words < self.ngram and not whole:
            return None
        return Hit(self._doc_item[doc], self._doc_field[doc], p - back, length, nwords, dstart)


_CACHE: dict[tuple[object, ...], LeakIndex] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 8


def cached_index(key: tuple[object, ...], items: Sequence[TestItem], anchor: int, char_window: int,
                 ngram: int, max_anchor_docs: int = 4) -> LeakIndex:
    """Build or reuse the index for ``key`` (test set sha256, fields, id field)."""
    full = (*key, anchor, char_window, ngram, max_anchor_docs)
    with _CACHE_LOCK:
        idx = _CACHE.get(full)
        if idx is None:
            idx = LeakIndex(items, anchor=anchor, char_window=char_window, ngram=ngram,
                            max_anchor_docs=max_anchor_docs)
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[full] = idx
        return idx
