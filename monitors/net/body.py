"""Per-body recording for the addons: hash everything, store a prefix; masking the real key.

``feed`` runs inside mitmproxy's event loop for every chunk that passes (mitmproxy reads
at most 64 KiB at a time, so a 2 GiB download is ~33,000 calls). The event loop only
copies each chunk into a 1 MiB batch buffer (a memcpy); a worker thread hashes and
writes whole batches. hashlib and file writes release the GIL, so the hashing runs on
the other core while the proxy keeps forwarding, and since the worker wakes and takes
the GIL once per MiB instead of once per chunk, it does not fight the event loop for the
GIL. At most ``_BUFFERS`` batches are in flight: a slow disk or hash slows the transfer
instead of growing the heap.

Every byte is hashed once (sha256 of the whole body); the stored prefix's hash is the
running hash's value at the cap, so the prefix is not hashed a second time.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from ptaudit.core.blobs import BlobStore
from ptaudit.core.sniff import SNIFF_BYTES, sniff

_BATCH = 1 << 20  # bytes per hand-off to the worker
_BUFFERS = 3  # batch buffers per body: memory bound of a streamed body
_DONE = object()


class Secrets:
    """The real API keys. They exist only in mitmdump's process: masked in everything
    recorded, and in everything forwarded to the client."""

    MASK = "[redacted:real-key]"  # in headers, URLs, messages; bodies get a same-length mask

    def __init__(self, keys: list[str]):
        self.keys = [k for k in keys if k]
        self.raw = [k.encode() for k in self.keys]

    def __bool__(self) -> bool:
        return bool(self.keys)

    def text(self, value: str) -> str:
        for k in self.keys:
            value = value.replace(k, self.MASK)
        return value

    def data(self, value: bytes) -> bytes:
        for k in self.raw:
            if k in value:
                value = value.replace(k, self.MASK.encode())
        return value

    def redactors(self) -> list[Redactor]:
        return [Redactor(k) for k in self.raw]


class Redactor:
    """Replaces a secret by a same-length mask in a chunked stream.

    Same length keeps Content-Length valid. A chunk's tail that could be the start of the
    secret is held back until the next chunk (or the end), so a secret split across chunks
    is still caught; any other chunk passes unchanged and uncopied (one ``in`` scan).
    """

    def __init__(self, secret: bytes):
        self.secret = secret
        self.mask = (b"[REDACTED]" + b"*" * len(secret))[: len(secret)]
        self.carry = b""
        self.count = 0
        self._first = secret[:1]

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        buf = self.carry + chunk if self.carry else chunk
        s = self.secret
        if s in buf:
            self.count += buf.count(s)
            buf = buf.replace(s, self.mask)
        if final:
            self.carry = b""
            return buf
        keep = self._partial(buf)
        if keep:
            self.carry = buf[len(buf) - keep:]
            return buf[: len(buf) - keep]
        self.carry = b""
        return buf

    def _partial(self, buf: bytes) -> int:
        """Length of the longest tail of ``buf`` that is a proper prefix of the secret."""
        s, first = self.secret, self._first
        i = buf.find(first, max(0, len(buf) - len(s) + 1))
        while i != -1:
            if s.startswith(buf[i:]):
                return len(buf) - i
            i = buf.find(first, i + 1)
        return 0


class Finder:
    """Whether ``needle`` occurs in a chunked stream, also across chunk boundaries."""

    def __init__(self, needle: bytes):
        self.needle = needle
        self.tail = b""
        self.found = False

    def feed(self, chunk: bytes) -> bool:
        if self.found or not chunk:
            return self.found
        n = len(self.needle) - 1
        if self.needle in chunk or (self.tail and self.needle in self.tail + chunk[:n]):
            self.found = True
        elif n:
            self.tail = (self.tail + chunk[-n:])[-n:] if len(chunk) < n else chunk[-n:]
        return self.found


class BodyRecorder:
    """Records one request or response body. ``feed`` returns the bytes to forward."""

    def __init__(self, store: BlobStore, cap: int, secrets: list[bytes] | None = None, threaded: bool = True):
        self._sink = store.writer(cap)
        self._redactors = [Redactor(s) for s in secrets or [] if s]
        self.head = b""
        self._need_head = SNIFF_BYTES > 0
        self._threaded = threaded
        self._buf: bytearray | None = None
        self._pos = 0
        self._allocated = 0
        self._q: queue.Queue[Any] | None = None
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.finished: dict[str, Any] | None = None

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        for r in self._redactors:
            chunk = r.feed(chunk, final)
        if chunk:
            if self._need_head:
                self.head += bytes(chunk[: SNIFF_BYTES - len(self.head)])
                self._need_head = len(self.head) < SNIFF_BYTES
            if self._threaded:
                self._push(chunk)
            else:
                self._sink.write(chunk)
        return chunk

    # -- event-loop side: batch chunks, hand whole batches to the worker ----------------
    def _push(self, chunk: bytes) -> None:
        n, pos = len(chunk), self._pos
        if pos == 0 and n >= _BATCH and type(chunk) is bytes:
            self._send(chunk)  # immutable and big already: no copy
            return
        buf = self._buf
        if buf is None:
            buf = self._buf = self._take()
        if pos + n < _BATCH:
            buf[pos:pos + n] = chunk
            self._pos = pos + n
            return
        view, off = memoryview(chunk), 0
        while n - off >= _BATCH - pos:
            take = _BATCH - pos
            buf[pos:] = view[off:off + take]
            off += take
            self._send((buf, _BATCH))
            buf = self._buf = self._take()
            pos = 0
        rest = n - off
        buf[:rest] = view[off:]
        self._pos = rest
        view.release()

    def _take(self) -> bytearray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._allocated < _BUFFERS:
                self._allocated += 1
                return bytearray(_BATCH)
            return self._free.get()  # all batches in flight: wait for the worker (backpressure)

    def _send(self, item: Any) -> None:
        if self._q is None:
            self._q = queue.Queue(_BUFFERS + 1)
            self._thread = threading.Thread(target=self._work, name="net-body", daemon=True)
            self._thread.start()
        self._q.put(item)

    def _flush(self) -> None:
        if self._pos and self._buf is not None:
            self._send((self._buf, self._pos))
            self._buf, self._pos = None, 0

    # -- worker ------------------------------------------------------------------------
    def _work(self) -> None:
        assert self._q is not None
        while (item := self._q.get()) is not _DONE:
            if type(item) is tuple:
                buf, n = item
                if self._error is None:
                    with memoryview(buf) as view, view[:n] as part:
                        self._write(part)
                self._free.put(buf)
            elif self._error is None:
                self._write(item)

    def _write(self, data: Any) -> None:
        try:
            self._sink.write(data)
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self._error = exc

    def _stop(self) -> None:
        if self._q is not None and self._thread is not None:
            self._q.put(_DONE)
            self._thread.join()

    # -- end -----------------------------------------------------------------------------
    def feed_all(self, data: bytes) -> bytes:
        """A whole buffered body at once (no thread)."""
        self._threaded = False
        return self.feed(data, final=True)

    def finish(self, complete: bool = True) -> dict[str, Any]:
        """Flush, close the blob and describe it (event fields). Idempotent."""
        if self.finished is not None:
            return self.finished
        self._flush()
        self._stop()
        info = self._sink.close()
        self.finished = {
            "size": info.size, "sha256": info.sha256, "blob": info.blob, "stored": info.stored,
            "truncated": info.truncated, "sniff": sniff(self.head), "complete": complete,
            "redacted": sum(r.count for r in self._redactors),
        }
        if (err := self._error or self._sink.error) is not None:
            self.finished["store_error"] = repr(err)
        return self.finished

    def abort(self) -> None:
        if self.finished is None:
            self._buf, self._pos = None, 0
            self._stop()
            self._sink.abort()
            self.finished = {"aborted": True}
