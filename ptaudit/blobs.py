"""Content-addressed blob store: ``blobs/<aa>/<sha256>``.

Bodies and file snapshots are stored once by the sha256 of the stored bytes. A stream
larger than its cap is still hashed whole, while only a prefix is kept; the prefix is a
blob of its own and the event says both hashes (``sha256`` of the whole stream and
``blob`` of what was kept).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class BlobInfo:
    sha256: str  # hash of the whole stream
    size: int  # bytes in the whole stream
    blob: str | None  # hash of the stored bytes (== sha256 when complete), None if nothing stored
    stored: int  # bytes stored

    @property
    def truncated(self) -> bool:
        return self.stored < self.size


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self._commit_bytes(sha, data)
        return sha

    def open(self, sha: str) -> BinaryIO:
        return open(self.path(sha), "rb")

    def read(self, sha: str, limit: int | None = None) -> bytes:
        with self.open(sha) as fh:
            return fh.read() if limit is None else fh.read(limit)

    def writer(self, cap: int | None = None) -> BlobWriter:
        """A streaming writer storing at most ``cap`` bytes (None: everything)."""
        return BlobWriter(self, cap)

    def _commit_bytes(self, sha: str, data: bytes) -> None:
        dest = self.path(sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)


class BlobWriter:
    """Hashes every chunk; spills what it keeps to a temp file so memory stays flat."""

    def __init__(self, store: BlobStore, cap: int | None):
        self.store = store
        self.cap = cap
        self._whole = hashlib.sha256()
        self._kept = hashlib.sha256()
        self.size = 0
        self.stored = 0
        store.root.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=".tmp-")
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._whole.update(chunk)
        self.size += len(chunk)
        if self._fh is None:
            return
        room = len(chunk) if self.cap is None else max(0, self.cap - self.stored)
        if room:
            part = chunk[:room]
            self._fh.write(part)
            self._kept.update(part)
            self.stored += len(part)

    def close(self) -> BlobInfo:
        if self._fh is None:
            raise ValueError("blob writer already closed")
        self._fh.close()
        self._fh = None
        sha = self._whole.hexdigest()
        if self.stored == 0 and self.size > 0:
            os.unlink(self._tmp)
            return BlobInfo(sha, self.size, None, 0)
        kept = self._kept.hexdigest()
        dest = self.store.path(kept)
        if dest.exists():
            os.unlink(self._tmp)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, dest)
        return BlobInfo(sha, self.size, kept, self.stored)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            os.unlink(self._tmp)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
