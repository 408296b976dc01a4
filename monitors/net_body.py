"""Per-body recording for the addon: hash everything, store a prefix, redact the real key.

``feed`` runs inside mitmproxy's event loop for every chunk that passes. Hashing and
disk writes are handed to a worker thread through a small bounded queue: hashlib and
file writes release the GIL, so the proxy keeps forwarding while the previous chunk is
hashed, and the queue bound keeps memory flat (a slow disk slows the transfer instead
of growing the heap).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from detectors.netrules import SNIFF_BYTES, sniff
from ptaudit.blobs import BlobStore

_QUEUE_CHUNKS = 16
_DONE = object()


class Redactor:
    """Replaces a secret by a same-length mask in a chunked stream.

    Same length keeps Content-Length valid. The last len(secret)-1 bytes of each chunk
    are held back until the next chunk (or the end), so a secret split across chunks is
    still caught.
    """

    def __init__(self, secret: bytes):
        self.secret = secret
        self.mask = (b"[REDACTED]" + b"*" * len(secret))[: len(secret)]
        self.carry = b""
        self.count = 0

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        buf = self.carry + chunk if self.carry else bytes(chunk)
        if self.secret in buf:
            self.count += buf.count(self.secret)
            buf = buf.replace(self.secret, self.mask)
        keep = 0 if final else min(len(buf), len(self.secret) - 1)
        self.carry = buf[len(buf) - keep:] if keep else b""
        return buf[: len(buf) - keep]


class BodyRecorder:
    """Records one request or response body. ``feed`` returns the bytes to forward."""

    def __init__(self, store: BlobStore, cap: int, secrets: list[bytes] | None = None, threaded: bool = True):
        self._writer = store.writer(cap)
        self._redactors = [Redactor(s) for s in secrets or [] if s]
        self.head = b""
        self._threaded = threaded
        self._q: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.finished: dict[str, Any] | None = None

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        for r in self._redactors:
            chunk = r.feed(chunk, final)
        if len(self.head) < SNIFF_BYTES and chunk:
            self.head += bytes(chunk[: SNIFF_BYTES - len(self.head)])
        if chunk:
            if self._threaded:
                if self._q is None:
                    self._q = queue.Queue(_QUEUE_CHUNKS)
                    self._thread = threading.Thread(target=self._work, name="net-body", daemon=True)
                    self._thread.start()
                self._q.put(chunk)
            else:
                self._writer.write(chunk)
        return chunk

    def _work(self) -> None:
        assert self._q is not None
        while (chunk := self._q.get()) is not _DONE:
            if self._error is None:
                try:
                    self._writer.write(chunk)
                except BaseException as exc:  # noqa: BLE001 - reported by finish()
                    self._error = exc

    def feed_all(self, data: bytes) -> bytes:
        """A whole buffered body at once (no thread)."""
        self._threaded = False
        return self.feed(data, final=True)

    def finish(self, complete: bool = True) -> dict[str, Any]:
        """Flush, close the blob and describe it (event fields). Idempotent."""
        if self.finished is not None:
            return self.finished
        if self._q is not None and self._thread is not None:
            self._q.put(_DONE)
            self._thread.join()
        info = self._writer.close()
        self.finished = {
            "size": info.size, "sha256": info.sha256, "blob": info.blob, "stored": info.stored,
            "truncated": info.truncated, "sniff": sniff(self.head), "complete": complete,
            "redacted": sum(r.count for r in self._redactors),
        }
        if self._error is not None:
            self.finished["store_error"] = repr(self._error)
        return self.finished

    def abort(self) -> None:
        if self.finished is None:
            if self._q is not None and self._thread is not None:
                self._q.put(_DONE)
                self._thread.join()
            self._writer.abort()
            self.finished = {"aborted": True}
