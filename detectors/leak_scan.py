"""Scanning one source (a blob or a file) against the leakage indexes of all benchmarks.

Each decoded segment is read as a stream of chunks. A chunk is cut at its last newline
(the rest is carried into the next chunk, so neither a UTF-8 sequence nor a string
escape is split), normalised, and prefixed with the last ``overlap`` normalised bytes of
the previous chunk, so an item that straddles a chunk boundary is still one match.

A chunk is normalised in newline-aligned blocks of ~64 KiB (normalisation never looks
across a newline, so the joined blocks equal the normalised chunk); the block table maps
a match back to its raw bytes cheaply, which the evidence needs: the byte offset, the
line, the JSON field, and an excerpt of the decoded source with the common span marked.
"""

from __future__ import annotations

import io
import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import BinaryIO

from .leak_decode import Budget, Limits, Segment, embedded_runs, segments, worth_decoding
from .leak_index import Hit, LeakIndex
from .leak_norm import normalize_bytes, unescape

_BLOCK = 1 << 12  # granularity of the lazy normalised-offset -> byte-offset map inside a block
_NORM_BLOCK = 1 << 16  # newline-aligned normalisation blocks
EXCERPT_CONTEXT = 160  # bytes of context on each side of a match in the evidence excerpt
EXCERPT_SPAN = 1600  # longest span shown whole; longer spans keep their head and tail
_JSON_KEY = re.compile(rb'"((?:[^"\\\n]|\\.){1,64})"\s*:\s*(?:\[\s*)?"')


@dataclass
class ItemHit:
    """The best match of one item in one source."""

    length: int
    words: int
    field: str
    where: str
    offset: int | None  # byte offset in ``where`` (approximate where escapes were resolved)
    path: tuple[str, ...] = ()  # decoding path down to the line/row and JSON field
    excerpt: str | None = None  # the decoded source around the match
    span: tuple[int, int] | None = None  # the common part, as character offsets in ``excerpt``
    doc_start: int = 0  # where the common part starts in the item field (normalised offset)


@dataclass
class ScanResult:
    """What one source contains: per benchmark, item index -> best hit; plus decode notes.
    Every note says something was not read (a cap, a decode error): the scan is incomplete."""

    hits: dict[str, dict[int, ItemHit]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bytes_scanned: int = 0

    @property
    def incomplete(self) -> bool:
        return bool(self.notes)

    def merge(self, other: ScanResult) -> None:
        """Fold ``other`` (another part of the same source) into this result."""
        for bench, items in other.hits.items():
            mine = self.hits.setdefault(bench, {})
            for i, h in items.items():
                prev = mine.get(i)
                if prev is None or h.length > prev.length or (
                        h.length == prev.length and (h.offset or 0) < (prev.offset or 0)):
                    mine[i] = h
        for n in other.notes:
            if n not in self.notes and len(self.notes) < 50:
                self.notes.append(n)
        self.bytes_scanned += other.bytes_scanned


# Binary data (weights, arrays, compressed payloads the decoders do not know): a block whose
# first 4 KiB have more than 1/8 of bytes >= 0x80 and that is not valid UTF-8 has its bytes >= 0x80 and its
# control characters replaced by spaces before normalising. Normalisation deletes them
# anyway (as U+FFFD or punctuation), so ASCII text inside binary data reads the same and
# offsets stay exact, but the Unicode path (~1 MB/s on random bytes) is never taken for it.
_HIGH_TO_FF = bytes(range(128)) + b"\xff" * 128
_BINARY = bytes(c if 32 <= c < 127 or c in (9, 10, 13) else 32 for c in range(256))


def _is_binary(b: bytes) -> bool:
    if b.isascii():
        return False
    head = b[:4096]  # a sample decides whether the (costly) UTF-8 check is worth it
    if head.translate(_HIGH_TO_FF).count(b"\xff") * 8 <= len(head):
        return False
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _norm(b: bytes, escaped: bool, binary: bool) -> bytes:
    if binary:
        b = b.translate(_BINARY)
    return normalize_bytes(unescape(b) if escaped else b)


class _OffsetMap:
    """Maps an offset in a block's normalised text back to a byte offset in the block.

    Built lazily, ~4 KiB at a time, only as far as the offsets asked for. The pieces end
    after a newline or a space (never inside an escape, a UTF-8 sequence or a LaTeX
    command), so their normalised lengths add up exactly and an offset does not depend
    on where the block began."""

    def __init__(self, raw: bytes, escaped: bool, binary: bool = False):
        self.raw, self.escaped, self.binary = raw, escaped, binary
        self._cum = [0]  # normalised length of raw[:starts[i]]
        self._starts = [0]

    def _norm(self, b: bytes) -> bytes:
        return _norm(b, self.escaped, self.binary)

    def _next_cut(self, i: int) -> int:
        raw = self.raw
        if len(raw) - i <= _BLOCK:
            return len(raw)
        j = max(raw.rfind(b"\n", i, i + _BLOCK), raw.rfind(b" ", i, i + _BLOCK))
        if j < i + _BLOCK // 4:  # no separator near the end of the window: look further on
            k = [x for x in (raw.find(b"\n", i + _BLOCK), raw.find(b" ", i + _BLOCK)) if x >= 0]
            j = min(k) if k else len(raw) - 1
        return j + 1

    def byte_offset(self, pos: int) -> int:
        cum, starts, raw = self._cum, self._starts, self.raw
        while cum[-1] <= pos and starts[-1] < len(raw):
            e = self._next_cut(starts[-1])
            cum.append(cum[-1] + len(self._norm(raw[starts[-1]:e])))
            starts.append(e)
        lo = bisect_right(cum, pos) - 1  # last piece whose cumulative start <= pos
        lo = min(lo, len(cum) - 2) if len(cum) > 1 else 0
        block = raw[starts[lo]:starts[lo + 1]] if len(starts) > 1 else raw
        want = pos - cum[lo]
        a, b = 0, len(block)
        while a < b:  # smallest r with len(norm(block[:r])) > want
            mid = (a + b) // 2
            if len(self._norm(block[:mid + 1])) > want:
                b = mid
            else:
                a = mid + 1
        return starts[lo] + a


class _Chunk:
    """One raw chunk, normalised block by block, with lazy maps back to its bytes."""

    def __init__(self, raw: bytes, escaped: bool, block: int | None):
        self.raw, self.escaped = raw, escaped
        starts = [0]
        if block is not None:
            n, i = len(raw), 0
            while n - i > block:
                j = raw.rfind(b"\n", i, i + block)
                if j < 0:
                    j = raw.find(b"\n", i + block)
                    if j < 0:
                        break
                i = j + 1
                starts.append(i)
        self.starts = starts
        ends = starts[1:] + [len(raw)]
        self.binary = [_is_binary(raw[s:e]) for s, e in zip(starts, ends, strict=True)]
        pieces = [_norm(raw[s:e], escaped, b) for s, e, b in zip(starts, ends, self.binary, strict=True)]
        self.text = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.cum = list(accumulate((len(p) for p in pieces), initial=0))
        self._maps: dict[int, _OffsetMap] = {}
        self._lines: list[int] = [0]  # newlines before each block, as far as computed

    def byte_offset(self, pos: int) -> int:
        """Byte offset in ``raw`` of normalised offset ``pos`` (0 <= pos < len(text))."""
        k = min(bisect_right(self.cum, pos) - 1, len(self.starts) - 1)
        om = self._maps.get(k)
        if om is None:
            s = self.starts[k]
            e = self.starts[k + 1] if k + 1 < len(self.starts) else len(self.raw)
            om = self._maps[k] = _OffsetMap(self.raw[s:e], self.escaped, self.binary[k])
        return self.starts[k] + om.byte_offset(pos - self.cum[k])

    def line_of(self, off: int) -> int:
        """Newlines in ``raw`` before byte ``off``."""
        k = bisect_right(self.starts, off) - 1
        lines, starts = self._lines, self.starts
        while len(lines) <= k:
            i = len(lines) - 1
            lines.append(lines[-1] + self.raw.count(b"\n", starts[i], starts[i + 1]))
        return lines[k] + self.raw.count(b"\n", starts[k], off)


class Scanner:
    """Scans sources against ``indexes`` (benchmark name -> index) within ``limits``.

    ``engine="v1"`` is the previous implementation (whole-chunk normalisation, set-based
    stages 1-2), kept runnable for the bench; both find the same items."""

    def __init__(self, indexes: Mapping[str, LeakIndex], limits: Limits | None = None, engine: str = "v2"):
        self.indexes = dict(indexes)
        self.limits = limits or Limits()
        self.engine = engine
        self.on_bytes: Callable[[int], None] | None = None  # progress: raw bytes of the source done
        self.overlap = max([2048] + [min(idx.max_doc, 1 << 16) for idx in self.indexes.values()])

    def scan(self, fh: BinaryIO, where: str, size: int | None = None, base: int = 0,
             row_groups: list[int] | None = None, escaped: bool | None = None) -> ScanResult:
        """Scan everything decodable in ``fh``; ``where`` labels it in the evidence;
        ``size`` (raw bytes of the source, found from ``fh`` when not given) sets the
        expansion cap. ``base``: offset of ``fh``'s first byte in the file (a range);
        ``row_groups``: only these Parquet row groups; ``escaped``: whether text has JSON
        escapes, when ``fh`` is a range (the file's head decides, not the range's)."""
        if size is None:
            size = _size_of(fh)
        budget = Budget(self.limits, raw_size=size or 0, row_groups=row_groups, escaped=escaped)
        result = ScanResult()
        for seg in segments(fh, where, budget):
            self._scan_segment(seg, budget, result, 0, base)
        result.notes = budget.notes
        result.bytes_scanned = budget.used
        return result

    def scan_bytes(self, data: bytes, where: str) -> ScanResult:
        return self.scan(io.BytesIO(data), where, len(data))

    def _scan_segments(self, segs: Iterator[Segment], budget: Budget, result: ScanResult, depth: int) -> None:
        for seg in segs:
            self._scan_segment(seg, budget, result, depth)

    def _scan_segment(self, seg: Segment, budget: Budget, result: ScanResult, depth: int, base: int = 0) -> None:
        tail = b""
        carry = b""
        # base: byte offset of the current chunk in the segment
        lines = 0  # newlines in the segment before the current chunk
        v1 = self.engine == "v1"
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
            ch = _Chunk(raw, seg.escaped, None if v1 else _NORM_BLOCK)
            buf = tail + ch.text
            for bench, idx in self.indexes.items():
                for hit in (idx.find_v1(buf) if v1 else idx.find(buf)):
                    self._record(result, bench, hit, seg, base, lines, ch, len(tail))
            tail = buf[-self.overlap:]
            for off, kind, decoded in embedded_runs(raw) if seg.runs else ():
                if worth_decoding(decoded):
                    sub = f"{seg.where}@{base + off}:{kind}"
                    path = seg.path + _place(seg, ch, base, lines, off) + (f"{kind} at byte {base + off:,}",)
                    self._scan_segments(segments(io.BytesIO(decoded), sub, budget, depth + 1, path), budget, result,
                                        depth + 1)
            lines += raw.count(b"\n")
            base += len(raw)
            if seg.direct and self.on_bytes is not None:
                self.on_bytes(len(raw))

    def _record(self, result: ScanResult, bench: str, hit: Hit, seg: Segment, base: int, lines: int, ch: _Chunk,
                tail_len: int) -> None:
        """Keep the longest match of each item (the first of equally long ones) with its place."""
        items = result.hits.setdefault(bench, {})
        prev = items.get(hit.item)
        if prev is not None and hit.length <= prev.length:
            return
        words = max(hit.words, prev.words if prev else 0)
        pos = hit.start - tail_len
        if pos < 0 and prev is not None:  # it began in the previous chunk, where it was seen shorter
            items[hit.item] = ItemHit(hit.length, words, prev.field, prev.where, prev.offset, prev.path, prev.excerpt,
                                      prev.span, prev.doc_start)
            return
        b0 = ch.byte_offset(pos) if pos >= 0 else 0
        end = pos + hit.length - 1
        b1 = max(ch.byte_offset(end) + 1 if 0 <= end < len(ch.text) else len(ch.raw), b0)
        offset = base + b0 if seg.offsets and pos >= 0 else None
        excerpt, span = _excerpt(seg, ch, base, b0, b1)
        items[hit.item] = ItemHit(hit.length, words, hit.field, seg.where, offset,
                                  seg.path + _place(seg, ch, base, lines, b0), excerpt, span, hit.doc_start)


def _size_of(fh: BinaryIO) -> int | None:
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    if isinstance(fh, io.BytesIO):
        return len(fh.getbuffer())
    return None


def _place(seg: Segment, ch: _Chunk, base: int, lines: int, b0: int) -> tuple[str, ...]:
    """The end of the decoding path: ``line N`` (and ``field "k"`` in JSON) or ``row N``."""
    if seg.value_ends is not None:
        import numpy as np

        r = int(np.searchsorted(seg.value_ends, base + b0, side="right"))
        return (f"{seg.row_label} {seg.row_base + r + 1:,}",)
    out = (f"line {lines + ch.line_of(b0) + 1:,}",)
    if seg.escaped:
        start = max(ch.raw.rfind(b"\n", 0, b0) + 1, b0 - 4096)
        keys = _JSON_KEY.findall(ch.raw, start, b0)
        if keys:
            out += (f'field "{keys[-1].decode("utf-8", "replace")}"',)
    return out


def _show(b: bytes, escaped: bool) -> str:
    if _is_binary(b):
        b = b.translate(_BINARY)
    if escaped:
        b = unescape(b).replace(b'\\"', b'"').replace(b"\\/", b"/")
    return b.decode("utf-8", "replace")


def _excerpt(seg: Segment, ch: _Chunk, base: int, b0: int, b1: int) -> tuple[str, tuple[int, int]]:
    """The decoded source around raw bytes [b0, b1) of the chunk, and the span's place in it.
    The context stops at the line (or column value) the match is in."""
    raw = ch.raw
    if seg.value_ends is not None:
        import numpy as np

        ends = seg.value_ends
        r = int(np.searchsorted(ends, base + b0, side="right"))
        lo = (int(ends[r - 1]) if r > 0 else 0) - base
        hi = (int(ends[r]) if r < len(ends) else base + len(raw)) - base
    else:
        lo = raw.rfind(b"\n", 0, b0) + 1
        hi = raw.find(b"\n", b1)
        hi = len(raw) if hi < 0 else hi
    lo = max(lo, b0 - EXCERPT_CONTEXT, 0)
    hi = min(hi, b1 + EXCERPT_CONTEXT, len(raw))
    while lo < b0 and raw[lo] & 0xC0 == 0x80:  # do not start inside a UTF-8 sequence
        lo += 1
    before, after = _show(raw[lo:b0], seg.escaped), _show(raw[b1:max(hi, b1)], seg.escaped)
    mid_raw = raw[b0:b1]
    if len(mid_raw) > EXCERPT_SPAN:
        half = EXCERPT_SPAN // 2
        mid = _show(mid_raw[:half], seg.escaped) + " … " + _show(mid_raw[-half:], seg.escaped)
    else:
        mid = _show(mid_raw, seg.escaped)
    return before + mid + after, (len(before), len(before) + len(mid))


def _with_end(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Pairs (chunk, is_last)."""
    prev: bytes | None = None
    for c in chunks:
        if prev is not None:
            yield prev, False
        prev = c
    if prev is not None:
        yield prev, True
