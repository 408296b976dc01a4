"""The content-addressed blob store: whole-stream hashes, capped prefixes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ptaudit.core.blobs import BlobStore


@pytest.mark.parametrize("cap", [None, 0, 1, 1000, 4096, 10_000])
def test_writer_hashes_everything_and_keeps_a_prefix(tmp_path: Path, cap: int | None) -> None:
    data = bytes(range(256)) * 20  # 5120 bytes, fed in uneven chunks
    store = BlobStore(tmp_path)
    w = store.writer(cap)
    for i in range(0, len(data), 777):
        w.write(data[i:i + 777])
    info = w.close()
    kept = data if cap is None else data[:cap]
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert info.stored == len(kept) and info.truncated == (len(kept) < len(data))
    if kept:
        assert info.blob == hashlib.sha256(kept).hexdigest() and store.read(info.blob) == kept
    else:
        assert info.blob is None
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []


def test_put_is_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    a, b = store.put(b"x"), store.put(b"x")
    assert a == b == hashlib.sha256(b"x").hexdigest() and store.has(a)
