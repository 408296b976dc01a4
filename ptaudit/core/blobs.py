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
from typing import Any, BinaryIO


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
    """sha256 of the whole stream, and the first ``cap`` bytes written to a blob.

    Memory stays flat (what is kept goes straight to a temp file), and each byte is hashed
    once: the stored prefix's hash is the running hash taken at the cap. If storing fails
    (disk full), the writer keeps hashing, so ``sha256`` still covers every byte; ``error``
    says why nothing was stored.
    """

    def __init__(self, store: BlobStore, cap: int | None):
        self.store = store
        self.cap = cap
        self._hash = hashlib.sha256()
        self._kept: str | None = None
        self.size = 0
        self.stored = 0
        store.root.mkdir(parents=True, exist_ok=True)
        self._fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=".tmp-")
        self._open = True
        self.error: OSError | None = None  # storing failed; the hash is still of every byte

    def write(self, data: Any) -> None:
        """``data``: bytes or a memoryview (hashed and written without a copy)."""
        n = len(data)
        self.size += n
        if self._kept is not None:  # prefix complete: hash only
            self._hash.update(data)
            return
        room = n if self.cap is None else min(n, self.cap - self.stored)
        if room > 0:
            part = data if room == n else data[:room]
            try:
                self._write_all(part)
            except OSError as exc:  # e.g. disk full: stop storing, keep hashing everything
                self.error, self._kept = exc, ""
                self._hash.update(data)
                return
            self._hash.update(part)
            self.stored += room
        if self.cap is not None and self.stored >= self.cap:
            self._kept = self._hash.hexdigest()  # hash of the stored prefix
            if room < n:
                self._hash.update(data[room:] if room > 0 else data)

    def _write_all(self, data: Any) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def close(self) -> BlobInfo:
        if not self._open:
            raise ValueError("blob writer already closed")
        self._open = False
        os.close(self._fd)
        sha = self._hash.hexdigest()
        if self.error is not None or (self.stored == 0 and self.size > 0):
            os.unlink(self._tmp)
            return BlobInfo(sha, self.size, None, 0)
        kept = self._kept or sha
        dest = self.store.path(kept)
        if dest.exists():
            os.unlink(self._tmp)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, dest)
        return BlobInfo(sha, self.size, kept, self.stored)

    def abort(self) -> None:
        if self._open:
            self._open = False
            os.close(self._fd)
            os.unlink(self._tmp)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
