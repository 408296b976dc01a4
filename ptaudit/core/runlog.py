"""The single writer of ``events.jsonl`` and its readers.

Durability: every record is written with one ``write(2)`` and made durable with
``fdatasync`` before the next record is written and before any producer is
acknowledged. A crash of the recorder or of the host therefore loses at most the record
being written, which then shows as a torn last line (``ptaudit verify`` reports it as
such). fdatasync measured ~0.1 ms on this machine kind; see bench/bench_recorder.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .events import GENESIS, Event, encode_line, now_ns

Subscriber = Callable[[Event], None]


class LogWriteError(OSError):
    """The log could not be written (e.g. disk full): the writer refuses every later
    record, so the chain stays intact up to the last durable one."""


class RunLogWriter:
    """Appends hash-chained records. Thread-safe; one instance per run directory."""

    def __init__(self, path: Path, fsync: bool = True):
        self.path = Path(path)
        if self.path.exists() and self.path.stat().st_size > 0:
            raise FileExistsError(f"{self.path} already holds events; a run log is written once")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)  # RDWR: _resync reads back
        self._fsync = fsync
        self._lock = threading.Lock()
        self.next_seq = 0
        self.head = GENESIS
        self._subscribers: list[Subscriber] = []
        self.closed = False
        self.failed: OSError | None = None
        self.on_failure: list[Callable[[OSError], None]] = []
        """Called once, outside the lock, when a write fails (the orchestrator stops the agent)."""
        self._size = 0  # bytes of complete records

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn`` with each appended event, in order, in the appending thread."""
        self._subscribers.append(fn)

    def append(self, source: str, kind: str, data: dict[str, Any] | None = None) -> Event:
        data = data or {}
        with self._lock:
            if self.closed:
                raise ValueError("run log is closed")
            if self.failed is not None:
                raise LogWriteError(self.failed.errno, f"run log unwritable since: {self.failed.strerror or self.failed}")
            if os.lseek(self._fd, 0, os.SEEK_END) != self._size:
                self._resync()
            seq, ts, prev = self.next_seq, now_ns(), self.head
            line, digest = encode_line(seq, ts, source, kind, data, prev)
            try:
                view = memoryview(line)
                while view:  # a short write (disk nearly full) must not leave half a record
                    view = view[os.write(self._fd, view):]
                if self._fsync:
                    os.fdatasync(self._fd)
            except OSError as exc:
                self._fail(exc)
                err = exc
            else:
                self._size += len(line)
                self.next_seq, self.head = seq + 1, digest
                event = Event(seq=seq, ts=ts, source=source, kind=kind, data=data, prev=prev, hash=digest)
                for fn in self._subscribers:
                    fn(event)
                return event
        for cb in list(self.on_failure):  # outside the lock: a callback may stop the agent
            try:
                cb(err)
            except Exception:  # noqa: BLE001, S110 - a callback must not hide the failure
                pass
        raise LogWriteError(err.errno, f"run log write failed: {err.strerror or err}") from None

    def _resync(self) -> None:
        """The file holds bytes our state does not account for: an appending thread was
        stopped by an exception between its write and the update of seq and head (an
        asynchronous exception, a KeyboardInterrupt, a MemoryError). The file is the truth:
        take the records it holds, cut off a partial one."""
        size = os.lseek(self._fd, 0, os.SEEK_END)
        extra = os.pread(self._fd, size - self._size, self._size)
        end = extra.rfind(b"\n") + 1
        for raw in extra[:end].splitlines():
            obj = json.loads(raw)
            self.next_seq, self.head = int(obj["seq"]) + 1, str(obj["hash"])
        self._size += end
        if end < len(extra):
            os.ftruncate(self._fd, self._size)

    def _fail(self, exc: OSError) -> None:
        self.failed = exc
        try:  # drop a partial record: what stays verifies
            os.ftruncate(self._fd, self._size)
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                try:
                    os.fsync(self._fd)
                except OSError:
                    if self.failed is None:
                        raise
                finally:
                    os.close(self._fd)
                    self.closed = True


def parse_line(raw: bytes) -> Event:
    obj = json.loads(raw)
    return Event.model_validate(obj)


def read_events(path: Path) -> Iterator[Event]:
    """Read every complete record; a torn final line (crash) is skipped."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            yield parse_line(raw)


def follow_events(path: Path, stop: threading.Event, poll: float = 0.05) -> Iterator[Event]:
    """Tail the log as the recorder appends (live detectors); ends once ``stop`` is set
    and everything written so far has been yielded."""
    with open(path, "rb") as fh:
        pending = b""
        while True:
            chunk = fh.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    yield parse_line(pending)
                    pending = b""
                continue
            if stop.is_set():
                return
            time.sleep(poll)
