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

from .events import LOST_KIND, EventData, EventsLost


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
        self._sent_upto = -1  # highest p written to the current connection
        self._acked = -1
        self._closing = False
        self._sock: socket.socket | None = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder-client-{producer}", daemon=True)
        self._thread.start()

    def record(self, ev: EventData) -> None:
        """Queue a typed event for the recorder."""
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
        frame = json.dumps({"p": p, "source": source, "kind": kind, "data": data},
                           separators=(",", ":"), default=str).encode() + b"\n"
        self._pending.append((p, frame))
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
                self._sent_upto = self._acked
            self.connected.set()
            reader = threading.Thread(target=self._read_acks, args=(rfile,), daemon=True)
            reader.start()
            while True:
                with self._cv:
                    if self._unreported_lost:
                        self._enqueue("ptaudit", LOST_KIND,
                                      EventsLost(producer=self.producer, count=self._unreported_lost).to_data())
                        self._unreported_lost = 0
                    batch = [f for p, f in self._pending if p > self._sent_upto]
                    if not batch:
                        if self._closing or not reader.is_alive():
                            break
                        self._cv.wait(0.2)
                        continue
                    self._sent_upto = self._pending[-1][0]
                sock.sendall(b"".join(batch))
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
        while self._pending and self._pending[0][0] <= upto:
            self._pending.popleft()
        self._acked = max(self._acked, upto)
        self._cv.notify_all()
