"""Per-tensor fingerprints of model weights, from a stream that may arrive in pieces.

A tensor's fingerprint depends only on its bytes, never on the file around it: the same
tensor in a safetensors file, a PyTorch zip, a renamed copy, a file joined from two HTTP
Range downloads or another shard layout gets the same fingerprint. It is

    xxh3_128( xxh3_128(block_0) || xxh3_128(block_1) || ... || u64le(nbytes) )

over the tensor's bytes cut into ``BLOCK`` (1 MiB) blocks counted from the tensor's first
byte. Blocks make pieces composable: a block that lies inside one piece is hashed as the
piece streams past; a block cut by a piece boundary keeps the hash state of its first
part (if that part was seen from the block's start) and the raw bytes (at most one block)
of a later part, and is finished when the pieces meet. So a checkpoint fetched as two
Range requests in either order, or as overlapping ranges, fingerprints the same tensors
as the whole file, with memory bounded by a block per boundary.

xxh3 is not a cryptographic hash. It does not need to be: an agent gains nothing from a
collision (a colliding tensor would make its model look *more* like a forbidden one), and
equal bytes always give equal fingerprints, which is what the detectors rely on.

    fp = ResourceFingerprint()
    seg = fp.segment(0)           # a contiguous piece starting at byte 0 (a file, a body)
    for chunk in body: seg.feed(chunk)
    seg.close(); fp.finish()
    fp.result()                   # {format, tensors: [{name, dtype, shape, bytes, fp}], ...}
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from .weightfile import MAX_HEADER, LayoutScanner, TensorSpec

BLOCK = 1 << 20
SCHEME = "xxh3-128/1MiB-blocks"
MAX_PENDING = 64 << 20  # bytes of pieces that arrive before the header, kept to replay
_LEN = struct.Struct("<Q")


def tensor_fp(data: bytes | memoryview) -> str:
    """The fingerprint of one tensor's bytes held in memory (same value as the streaming path)."""
    view = memoryview(data)
    h = xxhash.xxh3_128()
    for i in range(0, len(view), BLOCK):
        h.update(xxhash.xxh3_128_digest(view[i:i + BLOCK]))
    h.update(_LEN.pack(len(view)))
    return h.hexdigest()


@dataclass
class _Tensor:
    spec: TensorSpec
    nblocks: int
    done: int = 0
    fp: str | None = None
    digests: dict[int, bytes] = field(default_factory=dict)
    shared: list[int] = field(default_factory=list)  # other tensors with the same byte range


class ResourceFingerprint:
    """Fingerprints of one file or one HTTP resource, fed as contiguous pieces (segments)."""

    def __init__(self, max_header: int = MAX_HEADER, max_pending: int = MAX_PENDING):
        self.scanner = LayoutScanner(max_header)
        self.tensors: list[_Tensor] = []
        self._order: list[tuple[int, int]] = []  # (start, index), sorted: hashing order
        self._by_range: dict[tuple[int, int], int] = {}
        self._heads: dict[tuple[int, int], tuple[Any, int]] = {}  # (t, k) -> (hash state, end offset)
        self._tails: dict[tuple[int, int], list[tuple[int, bytes]]] = {}  # (t, k) -> raw pieces (start, bytes)
        self._pending: list[_Parked] = []  # bytes parked until the structure before them is known
        self._pending_bytes = 0
        self.max_pending = max_pending
        self.notes: list[str] = []
        self.pieces: list[tuple[int, int]] = []  # byte ranges seen, merged
        self.version = 0  # bumps when tensors are added (segments re-sync their cursor)
        self.segments = 0

    # -- layout --------------------------------------------------------------------------
    @property
    def format(self) -> str | None:
        return self.scanner.format

    def _add(self, specs: list[TensorSpec]) -> None:
        for s in specs:
            i = len(self.tensors)
            canon = self._by_range.get((s.start, s.end))
            t = _Tensor(s, -(-s.nbytes // BLOCK))
            self.tensors.append(t)
            if canon is not None:  # tied weights: hash the bytes once
                self.tensors[canon].shared.append(i)
                if self.tensors[canon].fp is not None:
                    t.fp = self.tensors[canon].fp
                continue
            self._by_range[(s.start, s.end)] = i
            if t.nblocks == 0:
                t.fp = tensor_fp(b"")
                continue
            bisect.insort(self._order, (s.start, i))
        if specs:
            self.version += 1

    def segment(self, offset: int) -> Segment:
        self.segments += 1
        return Segment(self, offset)

    # -- pieces that arrive before the structure they need --------------------------------
    def _pending_room(self, n: int) -> bool:
        if self._pending_bytes + n > self.max_pending:
            return False
        self._pending_bytes += n
        return True

    def ready_for(self, start: int) -> bool:
        """Can bytes from ``start`` on be hashed now? Header formats: once the whole table is
        known. PyTorch zips: once the sequential parse has reached ``start`` (members are
        registered before their bytes)."""
        sc = self.scanner
        return sc.done or (sc.format == "pytorch-zip" and start <= sc.pos)

    def _replay(self) -> None:
        """Hash closed parked pieces that can be hashed now (in order of offset)."""
        progress = True
        while progress and self._pending:
            progress = False
            for parked in sorted(self._pending, key=lambda p: p.start):
                if not parked.open and self.ready_for(parked.start):
                    self._pending.remove(parked)
                    self._pending_bytes -= len(parked.buf)
                    seg = Segment(self, parked.start, replay=True)
                    seg.feed(parked.buf)
                    seg.close()
                    progress = True
                    break

    # -- block bookkeeping -----------------------------------------------------------------
    def _block_done(self, ti: int, k: int, digest: bytes) -> None:
        t = self.tensors[ti]
        if k in t.digests or t.fp is not None:
            return
        t.digests[k] = digest
        t.done += 1
        self._heads.pop((ti, k), None)
        self._tails.pop((ti, k), None)
        if t.done == t.nblocks:
            h = xxhash.xxh3_128()
            for j in range(t.nblocks):
                h.update(t.digests[j])
            h.update(_LEN.pack(t.spec.nbytes))
            t.fp, t.digests = h.hexdigest(), {}
            for other in t.shared:
                self.tensors[other].fp = t.fp

    def _block_bounds(self, ti: int, k: int) -> tuple[int, int]:
        s = self.tensors[ti].spec
        bs = s.start + k * BLOCK
        return bs, min(bs + BLOCK, s.end)

    def _resolve(self, key: tuple[int, int]) -> None:
        """Join a block's head state with raw pieces that continue it."""
        head = self._heads.get(key)
        pieces = self._tails.get(key)
        if head is None or not pieces:
            return
        h, end = head
        _bs, be = self._block_bounds(*key)
        moved = True
        while moved and end < be:
            moved = False
            for start, raw in pieces:
                if start <= end < start + len(raw):
                    h.update(raw[end - start:])
                    end = start + len(raw)
                    moved = True
        if end >= be:
            self._block_done(key[0], key[1], h.digest())
        else:
            self._heads[key] = (h, end)

    def _add_tail(self, key: tuple[int, int], start: int, raw: bytes) -> None:
        self._tails.setdefault(key, []).append((start, raw))
        self._resolve(key)

    def _add_head(self, key: tuple[int, int], h: Any, end: int) -> None:
        old = self._heads.get(key)
        if old is None or old[1] < end:
            self._heads[key] = (h, end)
        self._resolve(key)

    def _seen(self, a: int, b: int) -> None:
        if b <= a:
            return
        i = bisect.bisect_left(self.pieces, (a, a))
        self.pieces.insert(i, (a, b))
        merged: list[tuple[int, int]] = []
        for x, y in self.pieces:
            if merged and x <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], y))
            else:
                merged.append((x, y))
        self.pieces = merged

    # -- results -------------------------------------------------------------------------
    def finish(self) -> None:
        """No more pieces will come: the scanner learns that the stream ended (a short file's
        header parses only now), parked bytes are hashed if they can be."""
        for p in self._pending:
            p.open = False
        self._replay()
        if not self.scanner.done and self.scanner.pos and self.scanner.pos >= self._contiguous_end():
            self._add(self.scanner.finish())
            self._replay()
        if self._pending:
            n = sum(len(p.buf) for p in self._pending)
            self.notes.append(f"{n} bytes at offsets the header never covered were not fingerprinted")
            self._pending, self._pending_bytes = [], 0

    def _contiguous_end(self) -> int:
        ends = [b for a, b in self.pieces if a == 0]
        parked = [p.start + len(p.buf) for p in self._pending if p.start == 0]
        return max(ends + parked + [0])

    @property
    def complete(self) -> bool:
        """Every tensor of a fully read table has its fingerprint."""
        return (self.scanner.done and not self.scanner.failed and bool(self.tensors)
                and all(t.fp is not None for t in self.tensors))

    def result(self, max_tensors: int = 50_000) -> dict[str, Any]:
        sc = self.scanner
        notes = list(sc.notes) + self.notes
        if sc.failed:
            notes.insert(0, sc.failed)
        missing = sum(1 for t in self.tensors if t.fp is None)
        if missing:
            notes.append(f"{missing} of {len(self.tensors)} tensors incomplete (bytes not seen)")
        if len(self.tensors) > max_tensors:
            notes.append(f"{len(self.tensors)} tensors: only the first {max_tensors} listed")
        return {
            "format": sc.format or "unknown",
            "tensors": [{"name": t.spec.name, "dtype": t.spec.dtype, "shape": list(t.spec.shape),
                         "bytes": t.spec.nbytes, "fp": t.fp} for t in self.tensors[:max_tensors]],
            "tensors_total": len(self.tensors),
            "complete": self.complete,
            "metadata": dict(sc.metadata),
            "pieces": [list(p) for p in self.pieces[:64]],
            "notes": notes[:50],
        }


class _Parked:
    """Bytes of a piece that cannot be hashed yet (the table before them is unknown)."""

    __slots__ = ("start", "buf", "open")

    def __init__(self, start: int):
        self.start, self.buf, self.open = start, bytearray(), True


class Segment:
    """One contiguous piece of a resource, fed in order."""

    def __init__(self, res: ResourceFingerprint, offset: int, replay: bool = False):
        self.res = res
        self.start = self.pos = offset
        self._ver = -1
        self._ptr = 0
        self._active: list[int] = []
        self._open: dict[tuple[int, int], list[Any]] = {}  # (t, k) -> [hash state, end offset]
        self._raw: dict[tuple[int, int], list[Any]] = {}  # (t, k) -> [start, bytearray]
        self._parked: _Parked | None = None
        self._inner: Segment | None = None  # after unparking: the piece that hashed the parked bytes goes on
        self._replay = replay
        self.closed = False

    def _park(self) -> None:
        self._parked = _Parked(self.pos)
        self.res._pending.append(self._parked)

    def _unpark(self) -> None:
        """The table is known now: hash what was parked, then go on live from here."""
        parked, res = self._parked, self.res
        assert parked is not None
        self._parked = None
        res._pending.remove(parked)
        res._pending_bytes -= len(parked.buf)
        self._inner = Segment(res, parked.start, replay=True)
        self._inner.feed(parked.buf)

    def feed(self, chunk: bytes | memoryview) -> None:
        n = len(chunk)
        if not n:
            return
        res = self.res
        if self._inner is not None:
            self._inner.feed(chunk)
            self.pos += n
            return
        sc = res.scanner
        if not sc.done and self.pos <= sc.pos < self.pos + n:  # the parse reads what it has not read yet
            res._add(sc.feed(memoryview(chunk)[sc.pos - self.pos:]))
        if self._parked is not None and res.ready_for(self._parked.start):
            self._unpark()
            assert self._inner is not None
            self._inner.feed(chunk)
            self.pos += n
            return
        if self._parked is None and not self._replay and not res.ready_for(self.pos):
            self._park()  # the table that describes these bytes is not known yet
        if self._parked is not None:
            if res._pending_room(n):
                self._parked.buf += chunk
            else:
                res.notes.append(f"bytes {self.pos}-{self.pos + n} arrived before the table that describes them "
                                 f"and over the {res.max_pending} byte buffer: not fingerprinted")
            self.pos += n
            return
        a, b = self.pos, self.pos + n
        self._hash(memoryview(chunk), a, b)
        res._seen(a, b)
        self.pos = b

    def _sync(self) -> None:
        res = self.res
        if self._ver != res.version:
            self._ver = res.version
            self._ptr = bisect.bisect_left(res._order, (self.pos, -1))
            # tensors that started before us and still run past our position
            self._active = sorted(set(self._active) | {i for s, i in res._order[:self._ptr]
                                                       if res.tensors[i].spec.end > self.pos}) \
                if self._ptr <= 4096 else self._active_slow()

    def _active_slow(self) -> list[int]:
        res = self.res
        return sorted({i for s, i in res._order[:self._ptr] if res.tensors[i].spec.end > self.pos} | set(self._active))

    def _hash(self, view: memoryview, a: int, b: int) -> None:
        res = self.res
        self._sync()
        order = res._order
        while self._ptr < len(order) and order[self._ptr][0] < b:
            self._active.append(order[self._ptr][1])
            self._ptr += 1
        keep = []
        for ti in self._active:
            t = res.tensors[ti]
            s, e = t.spec.start, t.spec.end
            if e <= a:
                continue
            if t.fp is None:
                self._tensor(ti, view, a, max(a, s), min(b, e))
            if e > b:
                keep.append(ti)
        self._active = keep

    def _tensor(self, ti: int, view: memoryview, a: int, x: int, y: int) -> None:
        res = self.res
        t = res.tensors[ti]
        s = t.spec.start
        k = (x - s) // BLOCK
        while x < y:
            bs = s + k * BLOCK
            be = min(bs + BLOCK, t.spec.end)
            pe = min(y, be)
            key = (ti, k)
            if k not in t.digests:
                st = self._open.get(key)
                if st is None and key not in self._raw:
                    head = res._heads.get(key)
                    if x == bs:
                        st = self._open[key] = [xxhash.xxh3_128(), bs]
                    elif head is not None and head[1] == x:
                        del res._heads[key]
                        st = self._open[key] = [head[0], x]
                    else:
                        self._raw[key] = [x, bytearray()]
                piece = view[x - a:pe - a]
                if st is not None:
                    if x == bs and pe == be:  # the whole block in one chunk: one call
                        del self._open[key]
                        res._block_done(ti, k, xxhash.xxh3_128_digest(piece))
                    else:
                        st[0].update(piece)
                        st[1] = pe
                        if pe == be:
                            del self._open[key]
                            res._block_done(ti, k, st[0].digest())
                else:
                    raw = self._raw[key]
                    raw[1] += piece
                    if pe == be:
                        del self._raw[key]
                        res._add_tail(key, raw[0], bytes(raw[1]))
            x = pe
            k += 1

    def close(self) -> None:
        """The piece ended: unfinished blocks become heads (hash state) or tails (raw)."""
        if self.closed:
            return
        self.closed = True
        res = self.res
        if self._inner is not None:
            self._inner.close()
        if self._parked is not None:
            self._parked.open = False
        for key, (h, end) in self._open.items():
            res._add_head(key, h, end)
        for key, (start, raw) in self._raw.items():
            if raw:
                res._add_tail(key, start, bytes(raw))
        self._open, self._raw = {}, {}
        if not self._replay:
            res._replay()


def fingerprint_file(path: str | Path, chunk: int = 8 << 20) -> dict[str, Any]:
    """One pass over a file: its format, tensor table and per-tensor fingerprints."""
    fp = ResourceFingerprint()
    seg = fp.segment(0)
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            seg.feed(view[:n])
            if fp.scanner.failed and not fp.tensors:
                break  # not weights: no need to read on
    seg.close()
    fp.finish()
    return fp.result()
