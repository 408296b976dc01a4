"""Producer side of the recorder protocol (see ptaudit.core.recorder).

``emit`` never blocks on the recorder and never drops silently: events wait in a bounded
queue; they stay there until the recorder acknowledges them as durable, and are resent
after a reconnect (the recorder skips the ones it already has). If the queue is full,
new events are counted as lost and a ``monitor.events_lost`` event with the count is
sent as soon as delivery resumes.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from .events import LOST_KIND, EventData, EventsLost


def frame_bytes(p: int, source: str, kind: str, data: dict[str, Any]) -> bytes:
    """One protocol frame, newline-terminated (orjson escapes every control character, so
    the frame holds no other newline); the json module for what orjson refuses."""
    obj = {"p": p, "source": source, "kind": kind, "data": data}
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE, default=str)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


class RecorderClient:
    def __init__(self, socket_path: str | Path, producer: str, max_pending: int = 200_000):
        self.socket_path = str(socket_path)
        self.producer = producer
        self.id = f"{producer}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.max_pending = max_pending
        self.lost = 0  # total events dropped because the queue was full
        self._unreported_lost = 0
        self._counter = itertools.count()
        self._pending: deque[tuple[int, bytes]] = deque()  # emitted, not yet acknowledged
        self._cv = threading.Condition()
        self._nsent = 0  # how many of _pending (from the left) went out on the current connection
        self._waiting = False  # the sender sleeps on _cv: wake it
        self._acked = -1
        self._closing = False
        self._sock: socket.socket | None = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder-client-{producer}", daemon=True)
        self._thread.start()

    def record(self, ev: EventData) -> None:
        """Queue a typed event for the recorder."""
        self.emit(ev.SOURCE, ev.KIND, ev.to_data())

    def record_many(self, evs: list[EventData]) -> None:
        """Queue typed events in order (as many record() calls)."""
        for ev in evs:
            self.emit(ev.SOURCE, ev.KIND, ev.to_data())

    def emit(self, source: str, kind: str, data: dict[str, Any] | None = None) -> None:
        with self._cv:
            if len(self._pending) >= self.max_pending:
                self.lost += 1
                self._unreported_lost += 1
                return
            self._enqueue(source, kind, data or {})

    def _enqueue(self, source: str, kind: str, data: dict[str, Any]) -> None:
        p = next(self._counter)
        self._pending.append((p, frame_bytes(p, source, kind, data)))
        if self._waiting:
            self._waiting = False
            self._cv.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything emitted so far is durable in the log."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending or self._unreported_lost:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        ok = self.flush(timeout)
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        if self._sock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout)
        return ok

    # -- background delivery ------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.01
        while not self._closing:
            try:
                self._session()
                backoff = 0.01
            except OSError:
                self.connected.clear()
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.5)

    def _session(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.socket_path)
        self._sock = sock
        try:
            sock.sendall(json.dumps({"hello": 1, "producer": self.producer, "id": self.id}).encode() + b"\n")
            rfile = sock.makefile("rb")
            hello = json.loads(rfile.readline() or b"{}")
            if not hello.get("ok"):
                raise OSError("recorder refused the handshake")
            with self._cv:
                self._ack(int(hello.get("last", -1)))
                self._nsent = 0  # resend everything not acknowledged
            self.connected.set()
            reader = threading.Thread(target=self._read_acks, args=(rfile,), daemon=True)
            reader.start()
            while True:
                with self._cv:
                    if self._unreported_lost:
                        self._enqueue("ptaudit", LOST_KIND,
                                      EventsLost(producer=self.producer, count=self._unreported_lost).to_data())
                        self._unreported_lost = 0
                    n = len(self._pending)
                    if self._nsent >= n:
                        if self._closing or not reader.is_alive():
                            break
                        self._waiting = True
                        self._cv.wait(0.2)
                        continue
                    # Up to 1 MiB-ish per send: the recorder acks as it commits meanwhile.
                    batch = list(itertools.islice(self._pending, self._nsent, min(n, self._nsent + 4096)))
                    self._nsent += len(batch)
                sock.sendall(b"".join(f for _, f in batch))
            if not reader.is_alive() and not self._closing:
                raise OSError("recorder closed the connection")
        finally:
            self.connected.clear()
            sock.close()

    def _read_acks(self, rfile: Any) -> None:
        try:
            for line in rfile:
                ack = json.loads(line).get("ack")
                if isinstance(ack, int):
                    with self._cv:
                        self._ack(ack)
        except (OSError, ValueError):
            pass
        with self._cv:
            self._cv.notify_all()

    def _ack(self, upto: int) -> None:
        pending = self._pending
        while pending and pending[0][0] <= upto:
            pending.popleft()
            self._nsent -= 1
        self._nsent = max(self._nsent, 0)
        self._acked = max(self._acked, upto)
        self._cv.notify_all()
