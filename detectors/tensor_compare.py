"""Tensor values of checkpoints, for evidence beyond equal fingerprints: did the final model
start from the base (F = B + δ) or from a non-base checkpoint I (F = I + δ)?

Per tensor, with F the final model, B the base and I the other checkpoint:

    cos(F − B, I − B)        ~1: F moved from B the way I did;  ~0: an unrelated update
    ‖F − I‖ / ‖F − B‖        <1: F is nearer I than B;          >1: nearer the base

and the same two over all common tensors together (sums over every element). Values are
read with numpy from files (memory-mapped) or blobs, one tensor at a time; F32, F16,
BF16 and F64 tensors are compared, others are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .weightfile import LayoutScanner, TensorSpec

_STEP = 1 << 22
_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def _scan(head_reader: Callable[[int, int], bytes], size: int) -> tuple[str | None, list[TensorSpec]]:
    sc = LayoutScanner()
    out: list[TensorSpec] = []
    pos, step = 0, 1 << 20
    while not sc.done and pos < size:
        chunk = head_reader(pos, min(step, size - pos))
        if not chunk:
            break
        out += sc.feed(chunk)
        pos += len(chunk)
        step = min(step * 2, 64 << 20)
    out += sc.finish()
    return sc.format, out


@dataclass
class TensorSource:
    """Where to read a checkpoint's tensors by name (first file that has a name wins)."""

    label: str
    tensors: dict[str, tuple[Any, TensorSpec]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_bytes(self, data: bytes, what: str) -> None:
        fmt, specs = _scan(lambda a, n: data[a:a + n], len(data))
        if fmt in (None, "pickle"):
            self.notes.append(f"{what}: no tensor table")
        for s in specs:
            self.tensors.setdefault(s.name, (data, s))

    def add_file(self, path: Path) -> None:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            def read(a: int, n: int) -> bytes:
                fh.seek(a)
                return fh.read(n)
            fmt, specs = _scan(read, size)
        if not specs:
            self.notes.append(f"{path.name}: no tensor table ({fmt or 'not weights'})")
            return
        mm = np.memmap(path, dtype=np.uint8, mode="r") if size else None
        for s in specs:
            self.tensors.setdefault(s.name, (mm, s))

    def get(self, name: str) -> np.ndarray | None:
        hit = self.tensors.get(name)
        if hit is None:
            return None
        src, s = hit
        raw = np.frombuffer(src, dtype=np.uint8, count=s.nbytes, offset=s.start) if isinstance(src, bytes) \
            else src[s.start:s.end]
        if s.dtype == "BF16":
            u = raw.view(np.uint16).astype(np.uint32) << 16
            return u.view(np.float32)
        dt = _NP.get(s.dtype)
        if dt is None:
            return None
        return raw.view(dt).astype(np.float64 if dt is np.float64 else np.float32, copy=False)


def compare(final: TensorSource, base: TensorSource, other: TensorSource,
            max_bytes: int = 4 << 30, per_tensor: int = 8) -> dict[str, Any]:
    """cos(F−B, I−B) and ‖F−I‖/‖F−B‖ per tensor and overall, over tensors all three share
    by name with equal shapes. ``per_tensor``: how many tensors to list (largest first)."""
    names = [n for n, (_, s) in final.tensors.items()
             if n in base.tensors and n in other.tensors
             and base.tensors[n][1].shape == s.shape == other.tensors[n][1].shape]
    names.sort(key=lambda n: -final.tensors[n][1].nbytes)
    dot = fb2 = ib2 = fi2 = 0.0
    rows, used, skipped = [], 0, 0
    notes = final.notes + base.notes + other.notes
    for n in names:
        nb = final.tensors[n][1].nbytes
        if used + nb > max_bytes:
            skipped += 1
            continue
        f, b, i = final.get(n), base.get(n), other.get(n)
        if f is None or b is None or i is None:
            skipped += 1
            continue
        used += nb
        d = x = y = z = 0.0
        ff, bf, jf = f.reshape(-1), b.reshape(-1), i.reshape(-1)
        for a in range(0, ff.size, _STEP):  # bounded float64 temporaries on huge tensors
            fc, bc, ic = (v[a:a + _STEP].astype(np.float64) for v in (ff, bf, jf))
            fb, ib, fi = fc - bc, ic - bc, fc - ic
            d += float(fb @ ib)
            x += float(fb @ fb)
            y += float(ib @ ib)
            z += float(fi @ fi)
        dot, fb2, ib2, fi2 = dot + d, fb2 + x, ib2 + y, fi2 + z
        if len(rows) < per_tensor:
            rows.append({"tensor": n, "cos": _r(_cos(d, x, y)), "ratio": _r(_ratio(z, x))})
    if skipped:
        notes.append(f"{skipped} common tensors not compared (dtype or the {max_bytes} byte bound)")
    return {"tensors_compared": len(names) - skipped, "cos": _r(_cos(dot, fb2, ib2)),
            "ratio": _r(_ratio(fi2, fb2)), "per_tensor": rows, "notes": notes[:10]}


def _cos(d: float, x: float, y: float) -> float | None:
    if x <= 0 or y <= 0:
        return None
    return d / math.sqrt(x * y)


def _ratio(z: float, x: float) -> float | None:
    if x <= 0:
        return 0.0 if z <= 0 else math.inf
    return math.sqrt(z / x)


def _r(v: float | None) -> float | str | None:
    if v is None:
        return None
    if math.isinf(v):
        return "inf"
    return round(v, 4)
