"""Scanning one source (a blob or a file) against the leakage indexes of all benchmarks.

Each decoded segment is read as a stream of chunks. A chunk is cut at its last newline
(the rest is carried into the next chunk, so neither a UTF-8 sequence nor a string
escape is split), normalised, and prefixed with the last ``overlap`` normalised bytes of
the previous chunk, so an item that straddles a chunk boundary is still one match.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from .leak_decode import Budget, Limits, Segment, embedded_runs, segments, worth_decoding
from .leak_index import Hit, LeakIndex
from .leak_norm import normalize_bytes, unescape

_BLOCK = 1 << 12  # granularity of the normalised-offset -> byte-offset map


@dataclass
class ItemHit:
    """The best match of one item in one source."""

    length: int
    words: int
    field: str
    where: str
    offset: int | None  # byte offset in ``where`` (approximate where escapes were resolved)


@dataclass
class ScanResult:
    """What one source contains: per benchmark, item index -> best hit; plus decode notes."""

    hits: dict[str, dict[int, ItemHit]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bytes_scanned: int = 0


class _OffsetMap:
    """Maps an offset in a chunk's normalised text back to a byte offset in the chunk.

    Built lazily, block by block, only as far as the offsets asked for (the first hit of
    each item in a source): a chunk without such a hit costs nothing."""

    def __init__(self, raw: bytes, escaped: bool):
        self.raw, self.escaped = raw, escaped
        self._cum = [0]  # normalised length of raw[:i * _BLOCK], for the blocks seen so far

    def _norm(self, b: bytes) -> bytes:
        return normalize_bytes(unescape(b) if self.escaped else b)

    def byte_offset(self, pos: int) -> int:
        cum, raw = self._cum, self.raw
        while cum[-1] <= pos and (len(cum) - 1) * _BLOCK < len(raw):
            i = (len(cum) - 1) * _BLOCK
            cum.append(cum[-1] + len(self._norm(raw[i:i + _BLOCK])))
        lo = bisect_right(cum, pos) - 1  # last block whose cumulative start <= pos
        lo = min(lo, len(cum) - 2) if len(cum) > 1 else 0
        block = raw[lo * _BLOCK:(lo + 1) * _BLOCK]
        want = pos - cum[lo]
        a, b = 0, len(block)
        while a < b:  # smallest r with len(norm(block[:r])) > want
            mid = (a + b) // 2
            if len(self._norm(block[:mid + 1])) > want:
                b = mid
            else:
                a = mid + 1
        return lo * _BLOCK + a


class Scanner:
    """Scans sources against ``indexes`` (benchmark name -> index) within ``limits``."""

    def __init__(self, indexes: Mapping[str, LeakIndex], limits: Limits | None = None):
        self.indexes = dict(indexes)
        self.limits = limits or Limits()
        self.overlap = max([2048] + [min(idx.max_doc, 1 << 16) for idx in self.indexes.values()])

    def scan(self, fh: BinaryIO, where: str) -> ScanResult:
        """Scan everything decodable in ``fh``; ``where`` labels it in the evidence."""
        budget = Budget(self.limits)
        result = ScanResult()
        self._scan_segments(segments(fh, where, budget), budget, result, 0)
        result.notes = budget.notes
        result.bytes_scanned = budget.used
        return result

    def scan_bytes(self, data: bytes, where: str) -> ScanResult:
        return self.scan(io.BytesIO(data), where)

    def _scan_segments(self, segs: Iterator[Segment], budget: Budget, result: ScanResult, depth: int) -> None:
        for seg in segs:
            self._scan_segment(seg, budget, result, depth)

    def _scan_segment(self, seg: Segment, budget: Budget, result: ScanResult, depth: int) -> None:
        tail = b""
        carry = b""
        base = 0  # byte offset of the current chunk in the segment
        for piece in _with_end(seg.chunks):
            chunk, last = piece
            raw = carry + chunk
            if not last:
                cut = raw.rfind(b"\n") + 1
                if cut == 0:
                    cut = len(raw) if len(raw) > self.limits.chunk else 0
                raw, carry = raw[:cut], raw[cut:]
                if not raw:
                    continue
            else:
                carry = b""
            text = normalize_bytes(unescape(raw) if seg.escaped else raw)
            buf = tail + text
            omap = _OffsetMap(raw, seg.escaped)
            for bench, idx in self.indexes.items():
                for hit in idx.find(buf):
                    self._record(result, bench, hit, seg, base, omap, len(tail))
            tail = buf[-self.overlap:]
            for off, kind, decoded in embedded_runs(raw) if seg.runs else ():
                if worth_decoding(decoded):
                    sub = f"{seg.where}@{base + off}:{kind}"
                    self._scan_segments(segments(io.BytesIO(decoded), sub, budget, depth + 1), budget, result,
                                        depth + 1)
            base += len(raw)

    @staticmethod
    def _record(result: ScanResult, bench: str, hit: Hit, seg: Segment, base: int, omap: _OffsetMap,
                tail_len: int) -> None:
        items = result.hits.setdefault(bench, {})
        prev = items.get(hit.item)
        if prev is not None:  # keep the first location, remember the longest match
            if hit.length > prev.length:
                items[hit.item] = ItemHit(hit.length, max(hit.words, prev.words), prev.field, prev.where, prev.offset)
            return
        offset: int | None = None
        if seg.offsets:
            pos = hit.start - tail_len
            offset = base + omap.byte_offset(pos) if pos >= 0 else None
        items[hit.item] = ItemHit(hit.length, hit.words, hit.field, seg.where, offset)


def _with_end(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Pairs (chunk, is_last)."""
    prev: bytes | None = None
    for c in chunks:
        if prev is not None:
            yield prev, False
        prev = c
    if prev is not None:
        yield prev, True
