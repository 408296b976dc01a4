"""Decoders: turn one stored body or file into the text streams the leakage scanner reads.

A source is sniffed by content (not by name, except for Python source): gzip, zstd, bz2
and xz are decompressed; zip and tar members, Parquet and Arrow string columns, and
Python string literals become streams of their own; anything else is read as text
(JSON-looking text has its string escapes resolved). Base64 and hex runs inside text are
found by the scanner and fed back through :func:`segments` one level deeper.

Hostile input is bounded, never the bytes a source holds itself: a source's decoded bytes
stop at ``max(max_total, max_ratio x its size)`` (decompression bombs), a decoded stream at
``max_bytes`` when set, nesting at ``depth``, archives at ``max_members``.
Each stop is recorded as a note, which the finding's evidence carries, so a reviewer
knows what was not read.
"""

from __future__ import annotations

import ast
import binascii
import bz2
import gzip
import io
import lzma
import re
import tarfile
import tokenize
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

CHUNK = 4 << 20
HEAD = 4096


@dataclass
class Limits:
    """Caps for one source (a blob or a file). Bytes stored on disk are always read whole;
    the caps bound what decoding adds (decompression bombs, nesting, archive members)."""

    max_bytes: int = 0  # per decoded stream; 0: no cap
    max_total: int = 1 << 30  # decoded bytes of one source are always allowed up to this ...
    max_ratio: float = 200.0  # ... or up to this many times the source's own size, if more
    depth: int = 4  # nested containers/encodings
    max_members: int = 10_000  # per archive
    chunk: int = CHUNK


@dataclass
class Budget:
    limits: Limits
    raw_size: int = 0
    used: int = 0
    row_groups: list[int] | None = None  # Parquet: scan only these row groups (a worker's share)
    escaped: bool | None = None  # a range of a file: JSON escapes as the whole file's head says
    notes: list[str] = field(default_factory=list)

    @property
    def total_cap(self) -> int:
        return max(self.limits.max_total, int(self.limits.max_ratio * self.raw_size))

    def note(self, msg: str) -> None:
        if len(self.notes) < 50 and msg not in self.notes:
            self.notes.append(msg)


@dataclass
class Segment:
    """One text stream: ``where`` names it inside the source (``a.zip!b.jsonl``, ``col:question``)."""

    where: str
    chunks: Iterator[bytes]
    escaped: bool = False  # resolve JSON/Python string escapes before normalising
    offsets: bool = True  # chunk byte offsets are offsets into ``where``
    runs: bool = True  # may hold base64/hex runs (False: column values all shorter than a run)
    path: tuple[str, ...] = ()  # the decoding path, for a reviewer: ("data.zip", "train.jsonl.gz")
    value_ends: Any = None  # columnar: end offset of each value in the segment (numpy array)
    row_label: str = "row"  # what one value is called in the path ("row", or "value" for nested columns)
    row_base: int = 0  # rows before this segment's first value (earlier batches)
    direct: bool = False  # the source's own bytes, undecoded (progress is counted on these)


def _read_capped(fh: BinaryIO, where: str, budget: Budget, first: bytes = b"") -> Iterator[bytes]:
    """Chunks of ``fh`` (after ``first``) until EOF, the stream cap or the source budget."""
    lim = budget.limits
    stream_cap = lim.max_bytes or (1 << 62)
    got = 0
    pending = first
    while True:
        room = min(stream_cap - got, budget.total_cap - budget.used)
        if room <= 0:
            more = pending or _safe_read(fh, 1, where, budget)
            if more:
                cap = (f"stream cap ({stream_cap} decoded bytes)" if stream_cap - got <= 0
                       else f"source cap ({budget.total_cap} decoded bytes)")
                budget.note(f"{where or '<source>'}: {cap} reached after {got} decoded bytes; rest not scanned")
            return
        block = pending[:room] if pending else _safe_read(fh, min(lim.chunk, room), where, budget)
        pending = pending[len(block):] if pending else b""
        if not block:
            return
        got += len(block)
        budget.used += len(block)
        yield block


def _safe_read(fh: BinaryIO, n: int, where: str, budget: Budget) -> bytes:
    try:
        return fh.read(n)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError) as exc:
        budget.note(f"{where or '<source>'}: decode error: {exc}")
        return b""


def _materialize(fh: BinaryIO, first: bytes, where: str, budget: Budget) -> BinaryIO:
    """A seekable view of the source: a file on disk (or bytes in memory) is used where it
    is (read lazily, never copied into memory); a stream is read into memory, capped."""
    if isinstance(fh, io.BufferedReader | io.FileIO | io.BytesIO) and fh.seekable():
        try:
            fh.seek(fh.tell() - len(first))
            size = _remaining(fh)
            budget.used += size
            return fh
        except OSError:
            pass
    return io.BytesIO(b"".join(_read_capped(fh, where, budget, first)))


def _remaining(fh: BinaryIO) -> int:
    here = fh.tell()
    end = fh.seek(0, io.SEEK_END)
    fh.seek(here)
    return end - here


def _decompressor(head: bytes, fh: BinaryIO) -> tuple[str, BinaryIO] | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip", gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    if head[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return "zstd", zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)  # type: ignore[return-value]
    if head[:3] == b"BZh":
        return "bz2", bz2.BZ2File(fh)  # type: ignore[return-value]
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz", lzma.LZMAFile(fh)  # type: ignore[return-value]
    return None


def _strip_ext(name: str) -> str:
    for ext in (".gz", ".zst", ".zstd", ".bz2", ".xz", ".tgz"):
        if name.lower().endswith(ext):
            return name[: -len(ext)] + (".tar" if ext == ".tgz" else "")
    return name


def looks_json(head: bytes) -> bool:
    s = head.lstrip()[:1]
    return s in (b"{", b"[")


def segments(fh: BinaryIO, where: str, budget: Budget, depth: int = 0,
             path: tuple[str, ...] | None = None) -> Iterator[Segment]:
    """The text streams inside ``fh``. ``where`` names the stream (file name or URL path);
    ``path`` is its decoding path so far (default: ``(where,)``)."""
    path = path if path is not None else (where,)
    head = _safe_read(fh, HEAD, where, budget)
    if not head:
        return
    if depth > budget.limits.depth:
        budget.note(f"{where}: nesting depth cap {budget.limits.depth} reached; not decoded further")
        return
    dec = _decompressor(head, _Prefixed(head, fh))
    if dec is not None:
        kind, inner = dec
        named = where.lower().endswith((".gz", ".zst", ".zstd", ".bz2", ".xz", ".tgz"))
        sub = _strip_ext(where) if named else f"{where}|{kind}"
        yield from segments(_Stream(_read_capped(inner, sub, budget)), sub, budget, depth + 1,
                            path if named else path + (kind,))
        return
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        yield from _zip(_materialize(fh, head, where, budget), where, budget, depth, path)
    elif head[257:262] == b"ustar":
        yield from _tar(_Prefixed(head, fh), where, budget, depth, path)
    elif head[:4] == b"PAR1":
        yield from _parquet(_materialize(fh, head, where, budget), where, budget, path)
    elif head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        yield from _arrow(_materialize(fh, head, where, budget), where, budget, head[:6] != b"ARROW1", path)
    elif where.lower().endswith((".py", ".pyw")):
        src = b"".join(_read_capped(fh, where, budget, head))
        yield Segment(where, iter([src]), path=path)
        yield Segment(f"{where}:literals", iter([python_literals(src)]), offsets=False, path=path + ("string literals",))
    else:
        escaped = looks_json(head) or where.lower().endswith((".json", ".jsonl", ".ipynb"))
        if depth == 0 and budget.escaped is not None:
            escaped = budget.escaped
        yield Segment(where, _read_capped(fh, where, budget, head), escaped=escaped, path=path, direct=depth == 0)


class _Prefixed(io.RawIOBase):
    """A reader that first returns ``head`` (already read) and then the rest of ``fh``."""

    def __init__(self, head: bytes, fh: BinaryIO):
        self._head, self._fh = head, fh

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if self._head:
            out = self._head if n < 0 else self._head[:n]
            self._head = self._head[len(out):]
            return out
        return self._fh.read(n)

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _Stream(io.RawIOBase):
    """A file-like view of an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._buf = chunks, b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        while n < 0 or len(self._buf) < n:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        out, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
        return out


def _zip(fh: io.BytesIO, where: str, budget: Budget, depth: int, path: tuple[str, ...]) -> Iterator[Segment]:
    try:
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        budget.note(f"{where}: unreadable zip: {exc}; scanned as bytes")
        fh.seek(0)
        yield Segment(where, _read_capped(fh, where, budget), path=path)
        return
    if len(infos) > budget.limits.max_members:
        budget.note(f"{where}: {len(infos)} members; only the first {budget.limits.max_members} scanned")
    for info in infos[: budget.limits.max_members]:
        if info.is_dir():
            continue
        sub = f"{where}!{info.filename}"
        try:
            member = zf.open(info)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, ValueError) as exc:
            budget.note(f"{sub}: cannot open member: {exc}")
            continue
        with member:
            yield from segments(member, sub, budget, depth + 1, path + (info.filename,))  # type: ignore[arg-type]


def _tar(fh: BinaryIO, where: str, budget: Budget, depth: int, path: tuple[str, ...]) -> Iterator[Segment]:
    try:
        tf = tarfile.open(fileobj=fh, mode="r|")
        for n, member in enumerate(tf):
            if n >= budget.limits.max_members:
                budget.note(f"{where}: more than {budget.limits.max_members} members; rest not scanned")
                return
            if not member.isfile():
                continue
            extracted = tf.extractfile(member)
            if extracted is not None:
                yield from segments(extracted, f"{where}!{member.name}", budget, depth + 1,  # type: ignore[arg-type]
                                    path + (member.name,))
    except (tarfile.TarError, OSError, EOFError) as exc:
        budget.note(f"{where}: tar read stopped: {exc}")


def _parquet(fh: BinaryIO, where: str, budget: Budget, path: tuple[str, ...]) -> Iterator[Segment]:
    """String columns, row group by row group (``budget.row_groups``: only these, for a
    worker scanning part of a file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(fh)
        meta = pf.metadata
        starts = [0]
        for g in range(meta.num_row_groups):
            starts.append(starts[-1] + meta.row_group(g).num_rows)
        groups = budget.row_groups if budget.row_groups is not None else range(meta.num_row_groups)
        for g in groups:
            for k, batch in enumerate(pf.iter_batches(batch_size=BATCH, row_groups=[g])):
                yield from _columns(batch, f"{where}", k, budget, path, row_base=starts[g] + k * BATCH,
                                    label=f"row group {g}, batch {k}")
    except (pa.ArrowException, OSError, ValueError) as exc:
        budget.note(f"{where}: parquet read stopped: {exc}")


def _arrow(fh: io.BytesIO, where: str, budget: Budget, stream: bool, path: tuple[str, ...]) -> Iterator[Segment]:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        if stream:
            reader = ipc.open_stream(fh)
            batches = iter(reader)
        else:
            f = ipc.open_file(fh)
            batches = (f.get_batch(i) for i in range(f.num_record_batches))
        for n, batch in enumerate(batches):
            yield from _columns(batch, where, n, budget, path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        budget.note(f"{where}: arrow read stopped: {exc}; scanned as bytes")
        fh.seek(0)
        yield Segment(where, _read_capped(fh, where, budget), path=path)


BATCH = 65536


def _columns(batch: object, where: str, n: int, budget: Budget, path: tuple[str, ...], row_base: int | None = None,
             label: str | None = None) -> Iterator[Segment]:
    import numpy as np
    import pyarrow.types as pt

    for name, col in zip(batch.schema.names, batch.columns, strict=True):  # type: ignore[attr-defined]
        parts = list(_string_parts(col))
        if parts:
            # Values are concatenated without separators, so short values (ids, labels)
            # would read as one long base64 run; a run can only lie inside a value.
            runs = max(longest for _, longest, _ in parts) >= MIN_RUN
            ends, base = [], 0
            for data, _, e in parts:
                ends.append(e + base)
                base += len(data)
            flat = pt.is_string(col.type) or pt.is_large_string(col.type) or pt.is_binary(col.type)  # type: ignore[attr-defined]
            base = n * BATCH if row_base is None else row_base
            yield Segment(f"{where}#{name}[{label or f'batch {n}'}]", iter([b for b, _, _ in parts]), offsets=False,
                          runs=runs, path=path + (f'column "{name}"',), value_ends=np.concatenate(ends),
                          row_label="row" if flat else "value", row_base=base if flat else 0)


def string_buffers(arr: object) -> Iterator[bytes]:
    """The bytes of every string value in an Arrow array, concatenated per buffer
    (zero-copy slices of the data buffer; nested lists, structs, maps, dictionaries)."""
    for data, _, _ in _string_parts(arr):
        yield data


def _string_parts(arr: object) -> Iterator[tuple[bytes, int, Any]]:
    """(concatenated values, longest value's length, each value's end offset in them) per
    string buffer of ``arr``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pt

    t = arr.type  # type: ignore[attr-defined]
    if pt.is_dictionary(t):
        yield from _string_parts(arr.dictionary)  # type: ignore[attr-defined]
    elif pt.is_string(t) or pt.is_binary(t) or pt.is_large_string(t) or pt.is_large_binary(t):
        bufs = arr.buffers()  # type: ignore[attr-defined]
        if len(arr) == 0 or bufs[2] is None:  # type: ignore[arg-type]
            return
        offs = memoryview(bufs[1]).cast("q" if pt.is_large_string(t) or pt.is_large_binary(t) else "i")
        start, end = offs[arr.offset], offs[arr.offset + len(arr)]  # type: ignore[attr-defined, arg-type]
        longest = pc.max(pc.binary_length(arr)).as_py() or 0  # type: ignore[attr-defined]
        ends = np.asarray(offs[arr.offset + 1:arr.offset + len(arr) + 1], dtype=np.int64) - start  # type: ignore[attr-defined]
        yield bytes(memoryview(bufs[2])[start:end]), longest, ends
    elif hasattr(pt, "is_string_view") and (pt.is_string_view(t) or pt.is_binary_view(t)):
        yield from _string_parts(arr.cast(pa.large_string() if pt.is_string_view(t) else pa.large_binary()))  # type: ignore[attr-defined]
    elif pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
        yield from _string_parts(arr.flatten())  # type: ignore[attr-defined]
    elif pt.is_map(t):
        yield from _string_parts(arr.keys)  # type: ignore[attr-defined]
        yield from _string_parts(arr.items)  # type: ignore[attr-defined]
    elif pt.is_struct(t):
        for child in arr.flatten():  # type: ignore[attr-defined]
            yield from _string_parts(child)


def python_literals(src: bytes) -> bytes:
    """Every string literal (docstrings included) of Python source, evaluated, one per line."""
    out: list[str] = []
    try:
        for tok in tokenize.tokenize(io.BytesIO(src).readline):
            if tok.type == tokenize.STRING:
                try:
                    val = ast.literal_eval(tok.string)
                except (ValueError, SyntaxError):  # f-strings: keep the text between the quotes
                    val = re.sub(r"^[A-Za-z]*('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", tok.string)
                out.append(val.decode("utf-8", "replace") if isinstance(val, bytes) else str(val))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass  # keep what was read before the error; the raw segment still covers the rest
    return "\n".join(out).encode("utf-8", "replace")


# Base64 / hex runs inside text. A translate into a two-letter alphabet plus a substring
# test rejects the (usual) chunk without runs at memory speed before any regex runs.
MIN_RUN = 64
_B64_ALPHA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
_TO_A = bytes(65 if c in _B64_ALPHA else 32 for c in range(256))
_RUN = re.compile(rb"[A-Za-z0-9+/_-]{%d,}={0,2}" % MIN_RUN)
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2})+")


def embedded_runs(chunk: bytes) -> Iterator[tuple[int, str, bytes]]:
    """(offset, "base64"|"hex", decoded bytes) for each long encoded run in ``chunk``."""
    if b"A" * MIN_RUN not in chunk.translate(_TO_A):
        return
    for m in _RUN.finditer(chunk):
        run = m.group(0)
        if _HEX.fullmatch(run):
            yield m.start(), "hex", binascii.unhexlify(run)
            continue
        body = run.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
        try:
            yield m.start(), "base64", binascii.a2b_base64(body + b"=" * (-len(body) % 4))
        except binascii.Error:
            continue


def worth_decoding(data: bytes) -> bool:
    """Decoded bytes are kept when they are a known container or mostly printable UTF-8."""
    head = data[:HEAD]
    if _decompressor(head, io.BytesIO()) is not None or head[:4] in (b"PK\x03\x04", b"PAR1"):
        return True
    text = head.decode("utf-8", "replace")
    if not text:
        return False
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    return printable / len(text) > 0.9
