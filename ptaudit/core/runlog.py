"""The single writer of ``events.jsonl`` (with group commit) and its readers.

Durability (group commit): appending a record assigns its seq, chains its hash and queues
its line; one committer thread writes every queued line with one ``write(2)`` and makes
them durable with one ``fdatasync``. Lines queued while an fdatasync is in flight go out
together with the next one, so one fdatasync covers every producer that arrived in the
meantime. Nothing is acknowledged before it is durable: :meth:`RunLogWriter.append`
returns once its record is durable, socket producers are acked from the durable seq
(:mod:`ptaudit.core.recorder`). The file is still one record per line in seq order; a
crash of the recorder or of the host loses only records nobody was told are durable, and
leaves at worst a torn last line (``ptaudit verify`` reports it as a crash).

A write or fdatasync that fails (disk full, I/O error) stops the writer for good: the
file is cut back to the last durable record (so no partial line stays behind), and every
waiting and later append raises :class:`LogWriteError`. After a failed fdatasync the page
cache can no longer be trusted, so retrying would be unsafe.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .events import GENESIS, Event, encode_line, now_ns
from .events.line import trusted_event

Subscriber = Callable[[Event], None]
DurableListener = Callable[[int], None]

MAX_PENDING_BYTES = 32 << 20
"""Queued, not yet written bytes beyond which appends wait (back-pressure on producers)."""


class LogWriteError(OSError):
    """The run log could not be written or made durable (e.g. disk full): the writer
    refuses every later record, so the chain stays intact up to the last durable one."""


class RunLogWriter:
    """Appends hash-chained records. Thread-safe; one instance per run directory."""

    def __init__(self, path: Path, fsync: bool = True, max_pending_bytes: int = MAX_PENDING_BYTES,
                 max_batch: int | None = None):
        """``max_batch``: at most this many records per fdatasync (1: one fdatasync per
        record, the behaviour before group commit; kept for bench/bench_recorder.py)."""
        self.path = Path(path)
        if self.path.exists() and self.path.stat().st_size > 0:
            raise FileExistsError(f"{self.path} already holds events; a run log is written once")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fsync = fsync
        self._max_pending = max_pending_bytes
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)     # committer: lines are queued / closing
        self._durable = threading.Condition(self._lock)  # waiters: durable_seq advanced / error
        self._space = threading.Condition(self._lock)    # appenders: the queue drained
        self.next_seq = 0
        self.head = GENESIS
        self.durable_seq = -1  # every record up to this seq is written and fdatasync'd
        self.commits = 0       # fdatasync calls so far (the bench reports records per commit)
        self._size = 0         # bytes of the file that are durable
        self._pending: list[bytes] = []
        self._pending_heads: list[str] = []  # the hash of each queued line (the durable head moves with them)
        self._pending_bytes = 0
        self._durable_head = GENESIS
        self._subscribers: list[Subscriber] = []
        self._listeners: list[DurableListener] = []
        self.error: LogWriteError | None = None
        self.on_failure: list[Callable[[LogWriteError], None]] = []
        """Called once, from the committer thread, when the log cannot be written (the
        orchestrator stops the agent: nothing it does from then on could be recorded)."""
        self.closed = False
        self._closing = False
        self._committer = threading.Thread(target=self._commit_loop, name="runlog-commit", daemon=True)
        self._committer.start()

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn`` with each appended event, in seq order, in the appending thread
        (under the writer's lock, so keep it cheap), before the record is durable."""
        self._subscribers.append(fn)

    def on_durable(self, fn: DurableListener) -> None:
        """Call ``fn(seq)`` from the committer thread each time records up to ``seq`` become
        durable (the recorder acks socket producers from it)."""
        self._listeners.append(fn)

    # -- appending -----------------------------------------------------------------------
    def append(self, source: str, kind: str, data: dict[str, Any] | None = None) -> Event:
        """Append one record; returns once it is durable."""
        event = self.submit(source, kind, data)
        self.wait_durable(event.seq)
        return event

    def append_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> list[Event]:
        """Append records in order; returns once all of them are durable (one wait)."""
        events = [self.submit(s, k, d) for s, k, d in items]
        if events:
            self.wait_durable(events[-1].seq)
        return events

    def submit(self, source: str, kind: str, data: dict[str, Any] | None = None) -> Event:
        """Queue one record for the next commit and return at once (not yet durable: use
        :meth:`wait_durable` or :meth:`on_durable` before telling anyone it is recorded).
        Waits only while more than ``max_pending_bytes`` are queued."""
        return self.submit_many(((source, kind, data if data is not None else {}),))[0]

    def submit_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> list[Event]:
        """:meth:`submit` for several records in order, under one acquisition of the lock
        (the recorder's socket loop hands over every frame of a read at once)."""
        events: list[Event] = []
        with self._lock:
            while self._pending_bytes > self._max_pending and self.error is None and not self.closed:
                self._space.wait()
            if self.error is not None:
                raise self.error
            if self.closed or self._closing:
                raise ValueError("run log is closed")
            was_empty = not self._pending
            seq, prev = self.next_seq, self.head
            pending, heads, subscribers, size = self._pending, self._pending_heads, self._subscribers, 0
            try:
                for source, kind, data in items:
                    ts = now_ns()
                    line, digest = encode_line(seq, ts, source, kind, data, prev)
                    event = trusted_event({"seq": seq, "ts": ts, "source": source, "kind": kind, "data": data,
                                           "prev": prev, "hash": digest})
                    pending.append(line)
                    heads.append(digest)
                    size += len(line)
                    seq, prev = seq + 1, digest
                    events.append(event)
                    for fn in subscribers:
                        fn(event)
            finally:
                # Whatever stopped the loop (a subscriber's error, an asynchronous exception in
                # a dying thread), the queued lines and seq/head agree: the chain stays whole.
                self._pending_bytes += size
                self.next_seq, self.head = seq, prev
                if was_empty and pending:
                    self._work.notify()
        return events

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Block until every record up to ``seq`` is durable; False on timeout. Raises
        :class:`LogWriteError` if the writer failed before that."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self.durable_seq < seq:
                if self.error is not None:
                    raise self.error
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._durable.wait(left)
            return True

    # -- the committer -------------------------------------------------------------------
    def _commit_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._work.wait()
                if not self._pending:
                    return  # closing, everything written
                if self._max_batch is not None and len(self._pending) > self._max_batch:
                    batch, self._pending = self._pending[:self._max_batch], self._pending[self._max_batch:]
                    head = self._pending_heads[self._max_batch - 1]
                    del self._pending_heads[:self._max_batch]
                    nbytes = sum(map(len, batch))
                    upto = self.next_seq - 1 - len(self._pending)
                else:
                    batch, self._pending, nbytes = self._pending, [], self._pending_bytes
                    head, self._pending_heads = self._pending_heads[-1], []
                    upto = self.next_seq - 1
                self._pending_bytes -= nbytes
                self._space.notify_all()
            try:
                self._write(b"".join(batch) if len(batch) > 1 else batch[0])
                if self._fsync:
                    os.fdatasync(self._fd)
            except OSError as exc:
                self._fail(exc)
                return
            except BaseException as exc:  # noqa: BLE001 - a dead committer would hang every waiter
                self._fail(OSError(errno.EIO, f"{type(exc).__name__}: {exc}"))
                return
            with self._lock:
                self._size += nbytes
                self.durable_seq, self._durable_head = upto, head
                self.commits += 1
                self._durable.notify_all()
            for fn in self._listeners:
                fn(upto)

    def _write(self, buf: bytes) -> None:
        view = memoryview(buf)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def _fail(self, exc: OSError) -> None:
        err = LogWriteError(exc.errno, f"run log {self.path}: {exc.strerror or exc}")
        try:  # no partial record stays behind: the log ends with the last durable line
            os.ftruncate(self._fd, self._size)
        except OSError:
            pass
        with self._lock:
            self.error = err
            self._pending.clear()
            self._pending_heads.clear()
            self._pending_bytes = 0
            # What was queued is dropped: seq and head go back to the last durable record,
            # which is where the manifest seals the log.
            self.next_seq, self.head = self.durable_seq + 1, self._durable_head
            self._durable.notify_all()
            self._space.notify_all()
        for fn in self._listeners:
            fn(-1)
        for cb in list(self.on_failure):
            try:
                cb(err)
            except Exception:  # noqa: BLE001, S110 - a callback must not hide the failure
                pass

    @property
    def failed(self) -> LogWriteError | None:
        """The write error that stopped the log, if any."""
        return self.error

    def close(self) -> None:
        """Commit what is queued, then close; idempotent. A failure is in :attr:`error`
        (and was raised to every append it affected)."""
        with self._lock:
            if self.closed:
                return
            self._closing = True
            self._work.notify()
        self._committer.join()
        with self._lock:
            self.closed = True
        try:
            if self.error is None:
                os.fsync(self._fd)
        except OSError as exc:
            self.error = LogWriteError(exc.errno, f"run log {self.path}: {exc.strerror or exc}")
        finally:
            os.close(self._fd)


_KEYS = frozenset(("seq", "ts", "source", "kind", "data", "prev", "hash"))


def parse_line(raw: bytes) -> Event:
    """One stored record as an :class:`Event`. A record in the recorder's own shape (the
    seven keys, their types) is taken as is; anything else is validated in full, so a
    damaged line still fails with a clear error."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = json.loads(raw)  # what orjson refuses but json accepts (NaN, big ints) stays readable
    if (type(obj) is dict and obj.keys() == _KEYS and type(obj["seq"]) is int and type(obj["ts"]) is int
            and type(obj["source"]) is str and type(obj["kind"]) is str and type(obj["data"]) is dict
            and type(obj["prev"]) is str and type(obj["hash"]) is str):
        return trusted_event(obj)
    return Event.model_validate(obj)


def read_events(path: Path, bad: list[int] | None = None) -> Iterator[Event]:
    """Read every complete record; a torn final line (crash) is skipped. A damaged record
    raises, unless ``bad`` is a list: then it is skipped and its line number (from 1)
    appended, for readers that must not crash on it and say what they skipped (summaries
    beside the report, whose verification names such lines; ``ptaudit provenance``)."""
    with open(path, "rb", buffering=1 << 20) as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                return
            if bad is None:
                yield parse_line(raw)
                continue
            try:
                ev = parse_line(raw)
            except ValueError:  # JSON, UTF-8 and validation errors are all ValueErrors
                bad.append(n)
                continue
            yield ev


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
