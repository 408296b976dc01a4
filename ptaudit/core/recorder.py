"""The recorder: the one process that owns a run's ``events.jsonl``.

In-process code calls :meth:`Recorder.record` (a typed payload) or :meth:`Recorder.emit`. Other processes (the mitmproxy addon inside
mitmdump, the gVisor trace sink, helpers) connect to its Unix stream socket and speak
newline-delimited JSON (see docs/formats.md, "recorder protocol")::

    client: {"hello":1,"producer":"net","id":"net-1234-ab12"}
    server: {"ok":1,"last":P}          # highest frame number already recorded for this id
    client: {"p":0,"source":"net","kind":"net.request","data":{...}}
    server: {"ack":0}                  # sent only once the record is durable

Everything coming in is untrusted: frames are bounded in size, malformed frames are
recorded as ``recorder.bad_frame`` events (never a crash), and a producer that dies
mid-frame leaves a ``recorder.producer_partial`` event.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

from .events import (
    LOST_KIND,
    SOURCES,
    BadFrame,
    Event,
    EventData,
    ProducerConnected,
    ProducerDisconnected,
    ProducerPartial,
    lost_count,
)
from .runlog import RunLogWriter
from .verdict import store_failed

MAX_FRAME = 8 << 20


class Recorder:
    def __init__(self, log: RunLogWriter, socket_path: Path | None = None, sources: tuple[str, ...] = SOURCES):
        self.log = log
        self.socket_path = Path(socket_path) if socket_path else None
        self.sources = frozenset(sources)
        self.events_lost = 0
        self.loss_unknown = False  # some producer lost an unknown number of events
        self.content_lost = 0  # events saying a body or file could not be stored
        self._acked: dict[str, int] = {}  # producer id -> last frame number recorded
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    # -- in-process producers -------------------------------------------------
    def record(self, ev: EventData) -> Event:
        """Append a typed payload under its kind and source."""
        return self.emit(ev.SOURCE, ev.KIND, ev.to_data())

    def emit(self, source: str, kind: str, data: dict[str, Any] | None = None) -> Event:
        """Append raw ``data`` (frames from other processes; tests); producers use record()."""
        event = self.log.append(source, kind, data or {})
        if data and store_failed(data):
            self.content_lost += 1  # a body or file not stored (disk full): the run is lossy
        if kind == LOST_KIND:
            n = lost_count(data or {})
            if n is None:
                self.loss_unknown = True
            else:
                self.events_lost += n
        return event

    @property
    def lossy(self) -> bool:
        return self.events_lost > 0 or self.loss_unknown or self.content_lost > 0

    # -- socket server ----------------------------------------------------------
    def start(self) -> None:
        if self.socket_path is None:
            return
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run_loop, name="recorder", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._start_error:
            raise self._start_error

    def stop(self) -> None:
        """Stop serving; idempotent (a second call does nothing)."""
        if self._loop is None or self._loop.is_closed():
            return
        if self._loop and self._server:
            async def _close() -> None:
                # Stop accepting, then end live connections and let their handlers record
                # the disconnect before the loop goes away.
                assert self._server
                self._server.close()
                for w in list(self._writers):
                    w.close()
                if self._handlers:
                    await asyncio.wait(list(self._handlers), timeout=5)
            fut = asyncio.run_coroutine_threadsafe(_close(), self._loop)
            try:
                fut.result(5)
            except Exception:  # noqa: BLE001 - shutting down regardless
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)
        if self.socket_path and self.socket_path.exists():
            self.socket_path.unlink()

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            assert self.socket_path
            if self.socket_path.exists():
                self.socket_path.unlink()
            self._server = loop.run_until_complete(
                asyncio.start_unix_server(self._handle, path=str(self.socket_path), limit=1 << 16)
            )
            os.chmod(self.socket_path, 0o600)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(self, writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while True:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    break
                conn.feed(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                conn.closed()
            except (OSError, ValueError):
                pass  # the log failed or closed: the run is ending incomplete already
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)


class _Conn:
    """Per-connection frame parser; bounded buffering, never raises on bad input."""

    def __init__(self, rec: Recorder, writer: asyncio.StreamWriter):
        self.rec = rec
        self.writer = writer
        self.buf = bytearray()
        self.discarding = False
        self.producer: str | None = None
        self.pid: str | None = None

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        last_ack = None
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > MAX_FRAME:
                    if not self.discarding:
                        self.bad("frame_too_large", len(self.buf))
                    self.discarding = True
                    self.buf.clear()
                break
            frame = bytes(self.buf[:nl])
            del self.buf[: nl + 1]
            if self.discarding:  # tail of an oversized frame
                self.discarding = False
                continue
            ack = self.frame(frame)
            if ack is not None:
                last_ack = ack
        if last_ack is not None:
            self.writer.write(b'{"ack":%d}\n' % last_ack)

    def frame(self, raw: bytes) -> int | None:
        try:
            obj = json.loads(raw)
        except ValueError:
            self.bad("invalid_json", len(raw))
            return None
        if not isinstance(obj, dict):
            self.bad("not_an_object", len(raw))
            return None
        if "hello" in obj:
            self.pid = str(obj.get("id") or "")[:200] or None
            self.producer = str(obj.get("producer") or "")[:64] or None
            last = self.rec._acked.get(self.pid or "", -1)
            self.writer.write(b'{"ok":1,"last":%d}\n' % last)
            self.rec.record(ProducerConnected(producer=self.producer, id=self.pid))
            return None
        p, source, kind, data = obj.get("p"), obj.get("source"), obj.get("kind"), obj.get("data", {})
        if (
            self.pid is None
            or not isinstance(p, int)
            or source not in self.rec.sources
            or not isinstance(kind, str)
            or not 0 < len(kind) <= 128
            or not isinstance(data, dict)
        ):
            self.bad("bad_fields", len(raw))
            return None
        if p <= self.rec._acked.get(self.pid, -1):
            return p  # a resend after reconnect: already recorded
        self.rec.emit(source, kind, data)
        self.rec._acked[self.pid] = p
        return p

    def bad(self, reason: str, size: int) -> None:
        self.rec.record(BadFrame(producer=self.producer, reason=reason, bytes=size))

    def closed(self) -> None:
        if self.buf and not self.discarding:
            self.rec.record(ProducerPartial(producer=self.producer, bytes=len(self.buf)))
        if self.pid is not None:
            self.rec.record(ProducerDisconnected(producer=self.producer, id=self.pid))
