"""Generators of small real files: safetensors, parquet, wheels, and large deterministic bodies."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from functools import lru_cache

_DTYPES = {"F32": ("<f", 4), "F16": ("<e", 2), "I64": ("<q", 8)}


def make_safetensors(tensors: dict[str, tuple[str, list[int]]] | None = None, fill: float = 0.5,
                     metadata: dict[str, str] | None = None) -> bytes:
    """A valid safetensors file (hand-rolled: the ``safetensors`` package is not installed).

    Format: u64 little-endian header length, JSON header {name: {dtype, shape,
    data_offsets}}, then the raw tensor bytes in header order.
    """
    tensors = tensors or {"model.embed.weight": ("F32", [8, 4]), "lm_head.weight": ("F32", [4, 8])}
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    data = bytearray()
    for name, (dtype, shape) in tensors.items():
        fmt, size = _DTYPES[dtype]
        count = 1
        for d in shape:
            count *= d
        start = len(data)
        data += struct.pack("<" + fmt[1] * count, *([fill] * count if dtype != "I64" else [1] * count))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [start, len(data)]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the reference writer pads the header to 8 bytes
    return struct.pack("<Q", len(raw)) + raw + bytes(data)


def make_parquet(rows: list[dict[str, object]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def make_wheel(name: str, version: str = "1.0.0", files: dict[str, bytes] | None = None) -> tuple[str, bytes]:
    """(filename, bytes) of a minimal pure-Python wheel."""
    norm = name.replace("-", "_")
    dist = f"{norm}-{version}.dist-info"
    members = dict(files or {f"{norm}/__init__.py": b"VALUE = 1\n"})
    members[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    members[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: simnet\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members[f"{dist}/RECORD"] = b""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in members.items():
            zf.writestr(path, data)
    return f"{norm}-{version}-py3-none-any.whl", buf.getvalue()


BLOCK = 1 << 20


@lru_cache(maxsize=4)
def pattern_block(seed: int = 0) -> bytes:
    """1 MiB of pseudo-random bytes (so no sniffer or compressor finds structure in it)."""
    out = bytearray()
    i = 0
    while len(out) < BLOCK:
        out += hashlib.sha512(f"simnet-{seed}-{i}".encode()).digest()
        i += 1
    return bytes(out[:BLOCK])


def pattern_stream(size: int, seed: int = 0) -> Iterator[bytes]:
    """``size`` bytes of the repeated pattern block, as memoryview-backed chunks."""
    block = memoryview(pattern_block(seed))
    left = size
    while left > 0:
        n = min(left, BLOCK)
        yield block[:n]  # type: ignore[misc]  # memoryview is fine for socket writes
        left -= n


@lru_cache(maxsize=8)
def pattern_sha256(size: int, seed: int = 0) -> str:
    h = hashlib.sha256()
    for chunk in pattern_stream(size, seed):
        h.update(chunk)
    return h.hexdigest()
