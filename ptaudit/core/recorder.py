"""The recorder: the one process that owns a run's ``events.jsonl``.

In-process code calls :meth:`Recorder.record` (a typed payload) or :meth:`Recorder.emit`. Other processes (the mitmproxy addon inside
mitmdump, the gVisor trace sink, helpers) connect to its Unix stream socket and speak
newline-delimited JSON (see docs/formats.md, "recorder protocol")::

    client: {"hello":1,"producer":"net","id":"net-1234-ab12"}
    server: {"ok":1,"last":P}          # highest frame number already recorded for this id
    client: {"p":0,"source":"net","kind":"net.request","data":{...}}
    server: {"ack":0}                  # sent only once the record is durable

Group commit: frames are parsed and appended (seq, hash chain) as they arrive, without
waiting; the log's committer makes everything queued durable with one fdatasync and
tells us the durable seq, and only then does each connection get its ack (the highest
frame number it sent at or below that seq). The handshake answer is deferred the same
way, so ``last`` never names a frame that is not durable yet.

Everything coming in is untrusted: frames are bounded in size, malformed frames are
recorded as ``recorder.bad_frame`` events (never a crash), and a producer that dies
mid-frame leaves a ``recorder.producer_partial`` event.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

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
        self._lost_lock = threading.Lock()
        self._recorded: dict[str, int] = {}  # producer id -> last frame number appended
        self.content_lost = 0  # events saying a body or file could not be stored
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._conns: set[_Conn] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        log.on_durable(self._durable)

    # -- in-process producers -------------------------------------------------
    def record(self, ev: EventData) -> Event:
        """Append a typed payload under its kind and source; returns once it is durable."""
        return self.emit(ev.SOURCE, ev.KIND, ev.to_data())

    def record_many(self, evs: Iterable[EventData]) -> list[Event]:
        """Append typed payloads in order; returns once all are durable (one group commit
        for the lot instead of one wait per event)."""
        events = self._submit_many([(ev.SOURCE, ev.KIND, ev.to_data()) for ev in evs])
        if events:
            self.log.wait_durable(events[-1].seq)
        return events

    def emit(self, source: str, kind: str, data: dict[str, Any] | None = None) -> Event:
        """Append raw ``data`` (frames from other processes; tests); producers use record().
        Returns once the record is durable."""
        event = self._submit(source, kind, data or {})
        self.log.wait_durable(event.seq)
        return event

    def _submit(self, source: str, kind: str, data: dict[str, Any]) -> Event:
        """Append without waiting for durability (the recorder's loop must never block on
        fdatasync: its acks follow the durable seq instead)."""
        return self._submit_many([(source, kind, data)])[-1]

    def _submit_many(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[Event]:
        events = self.log.submit_many(items)
        for _source, kind, data in items:
            if data and store_failed(data):
                with self._lost_lock:
                    self.content_lost += 1  # a body or file not stored (disk full): the run is lossy
            if kind == LOST_KIND:
                n = lost_count(data)
                with self._lost_lock:
                    if n is None:
                        self.loss_unknown = True
                    else:
                        self.events_lost += n
        return events

    def _submit_ev(self, ev: EventData) -> Event:
        return self._submit(ev.SOURCE, ev.KIND, ev.to_data())

    @property
    def lossy(self) -> bool:
        return self.events_lost > 0 or self.loss_unknown or self.content_lost > 0

    def _durable(self, seq: int) -> None:
        # Committer thread: hand the new durable seq to the loop, which owns the sockets.
        loop = self._loop
        if seq >= 0 and loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._send_acks, seq)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _send_acks(self, seq: int) -> None:
        for conn in list(self._conns):
            conn.flush(seq)

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
                for c in list(self._conns):
                    c.writer.close()
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
        self._conns.add(conn)
        try:
            while True:
                chunk = await reader.read(1 << 18)
                if not chunk:
                    break
                conn.feed(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._conns.discard(conn)
            try:
                conn.closed()
            except (OSError, ValueError):
                pass  # the log failed or closed: the run is ending incomplete already
            writer.close()
            self._handlers.discard(task)


class _Conn:
    """Per-connection frame parser; bounded buffering, never raises on bad input. Answers
    (acks, the handshake) wait in ``out`` until the log is durable up to their seq."""

    def __init__(self, rec: Recorder, writer: asyncio.StreamWriter):
        self.rec = rec
        self.writer = writer
        self.buf = bytearray()
        self.discarding = False
        self.producer: str | None = None
        self.pid: str | None = None
        self.out: deque[tuple[int, int | bytes]] = deque()  # (durable seq needed, ack p | raw reply)
        self.batch: list[tuple[str, str, dict[str, Any]]] = []

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        last_ack = None
        start = 0
        buf = self.buf
        self.batch: list[tuple[str, str, dict[str, Any]]] = []  # valid frames, appended together
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            if self.discarding:  # tail of an oversized frame
                self.discarding = False
            else:
                ack = self.frame(bytes(buf[start:nl]))
                if ack is not None:
                    last_ack = ack
            start = nl + 1
        self.flush_batch()
        del buf[:start]
        if len(buf) > MAX_FRAME:
            if not self.discarding:
                self.bad("frame_too_large", len(buf))
            self.discarding = True
            buf.clear()
        if last_ack is not None:
            self.reply(last_ack)

    def flush_batch(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.rec._submit_many(batch)

    def submit_ev(self, ev: EventData) -> None:
        """One of the recorder's own events, in order after the frames before it."""
        self.flush_batch()
        self.rec._submit_ev(ev)

    def reply(self, msg: int | bytes) -> None:
        """Send ``msg`` (an ack for frame number ``msg``, or raw bytes) once everything
        appended so far is durable."""
        self.out.append((self.rec.log.next_seq - 1, msg))
        self.flush(self.rec.log.durable_seq)

    def flush(self, durable: int) -> None:
        out, ack = self.out, None
        parts: list[bytes] = []
        while out and out[0][0] <= durable:
            msg = out.popleft()[1]
            if isinstance(msg, int):
                ack = msg  # only the highest ack of a run needs sending
                continue
            if ack is not None:
                parts.append(b'{"ack":%d}\n' % ack)
                ack = None
            parts.append(msg)
        if ack is not None:
            parts.append(b'{"ack":%d}\n' % ack)
        if parts and not self.writer.is_closing():
            self.writer.write(b"".join(parts))

    def frame(self, raw: bytes) -> int | None:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses but json accepts (NaN, big integers)
                obj = json.loads(raw)
            except ValueError:
                self.bad("invalid_json", len(raw))
                return None
        if type(obj) is not dict:
            self.bad("not_an_object", len(raw))
            return None
        if "hello" in obj:
            self.pid = str(obj.get("id") or "")[:200] or None
            self.producer = str(obj.get("producer") or "")[:64] or None
            last = self.rec._recorded.get(self.pid or "", -1)
            self.flush_batch()
            self.reply(b'{"ok":1,"last":%d}\n' % last)  # once its frames up to ``last`` are durable
            self.submit_ev(ProducerConnected(producer=self.producer, id=self.pid))
            return None
        p, source, kind, data = obj.get("p"), obj.get("source"), obj.get("kind"), obj.get("data", {})
        if (
            self.pid is None
            or type(p) is not int
            or source not in self.rec.sources
            or type(kind) is not str
            or not 0 < len(kind) <= 128
            or type(data) is not dict
        ):
            self.bad("bad_fields", len(raw))
            return None
        if p <= self.rec._recorded.get(self.pid, -1):
            return p  # a resend after reconnect: already recorded (acked once durable)
        self.batch.append((source, kind, data))
        self.rec._recorded[self.pid] = p
        return p

    def bad(self, reason: str, size: int) -> None:
        self.submit_ev(BadFrame(producer=self.producer, reason=reason, bytes=size))

    def closed(self) -> None:
        if self.buf and not self.discarding:
            self.submit_ev(ProducerPartial(producer=self.producer, bytes=len(self.buf)))
        if self.pid is not None:
            self.submit_ev(ProducerDisconnected(producer=self.producer, id=self.pid))
