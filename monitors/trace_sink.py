"""Processes: the host end of gVisor's runtime-monitoring ``remote`` sink.

    sink = TraceSink(TraceSinkConfig(socket_path=sockdir / "trace.sock"))
    flags = sink.runsc_flags(run_dir / "pod-init.json")  # writes the pod-init config
    sink.start(emit)                                       # listening BEFORE the sandbox starts
    Sandbox(SandboxConfig(..., runsc_flags=flags), ...).run()
    sink.stop()

runsc (the sentry) connects to our Unix SOCK_SEQPACKET socket at boot, both sides send
``Handshake{version}``, then each trace point arrives as one message (see trace_proto).
runsc never blocks the workload on us: when the socket is full it drops the point and
the header's cumulative dropped count grows; every increase becomes a
``monitor.events_lost`` {producer: "trace"}. Our reader only copies frames into a bounded
queue (decoding and recording happen on another thread), so losses on our side are
counted the same way, with their own reason.

Input is treated as hostile: frames over ``max_frame`` (MSG_TRUNC), short or inconsistent
headers, undecodable payloads and unknown message types are counted, reported, skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import queue
import socket
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from ptaudit.core.events import (
    ProcBadFrame,
    ProcClone,
    ProcConnect,
    ProcDup,
    ProcExec,
    ProcExit,
    ProcOpen,
    TraceConnected,
    TraceDisconnected,
    TraceSummary,
)
from ptaudit.core.proctree import ProcTree

from . import trace_proto as tp
from .base import Monitor, MonitorConfig, MonitorContext, Record, register

CONTEXT_FIELDS = ["time", "thread_id", "group_id", "container_id", "process_name", "cwd", "credentials"]
DEFAULT_POINTS = ["container/start", "sentry/execve", "sentry/clone", "sentry/task_exit",
                  "syscall/openat/exit", "syscall/open/exit", "syscall/creat/exit",
                  "syscall/connect/enter", "syscall/connect/exit", "syscall/dup2/exit", "syscall/dup3/exit"]
# Reads under these are routine (loader, interpreter, devices) and not recorded; writes
# and failed attempts on them still are.
QUIET_PREFIXES = ("/usr/", "/proc/", "/sys/", "/dev/", "/etc/ld.so", "/lib/", "/lib64/", "/bin/",
                  "/sbin/", "/opt/ptaudit/")
O_ACCMODE, O_CREAT, O_TRUNC, O_APPEND = 0o3, 0o100, 0o1000, 0o2000
AT_FDCWD = -100
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
ENOENT = 2
_BAD_FRAME_EVENTS = 20  # individual proc.bad_frame events before only counting


class TraceSinkConfig(MonitorConfig):
    """gVisor trace sink settings."""

    socket_path: Path = Field(description="Unix socket to listen on (under 108 bytes; its dir should be 0700).")
    points: list[str] = Field(default_factory=lambda: list(DEFAULT_POINTS),
                              description="Trace points to enable (runsc trace metadata lists them).")
    max_frame: int = Field(default=1 << 20, ge=64, description="Larger messages are rejected.")
    queue_max: int = Field(default=200_000, ge=1, description="Frames buffered between reader and decoder.")
    max_open_events: int = Field(default=500_000, ge=0, description="proc.open events per run; "
                                 "beyond it opens are only counted (proc.trace_summary).")
    max_connections: int = Field(default=4, ge=1)
    retries: int = Field(default=20, ge=0, description="runsc retries a point this often when our socket "
                         "is full (exponential backoff up to backoff_max) before dropping it; 0 is runsc's "
                         "default: drop at once. Retrying briefly stalls the traced task instead of losing points.")
    backoff_max: str = Field(default="10ms", pattern=r"^[0-9]+(us|ms|s)$")
    handshake_timeout_s: float = Field(default=10.0, gt=0)
    drain_timeout_s: float = Field(default=300.0, gt=0, description="At stop, how long to keep decoding "
                                   "frames already received; the rest is counted as lost.")
    hash_mounts: dict[str, Path] = Field(
        default_factory=dict, description="sandbox path prefix -> host dir, for hashing executed binaries "
        "host-side (runsc 2022-12 and 2024-07 leave ExecveInfo.binary_sha256 empty)")
    hash_max_bytes: int = Field(default=256 << 20, ge=0, description="Larger binaries are not hashed.")


def decode_sockaddr(raw: bytes) -> dict[str, Any]:
    """AF_INET / AF_INET6 / AF_UNIX sockaddr bytes -> {family, host, port} or {family, path}."""
    if len(raw) < 2:
        return {"family": None, "raw": raw.hex()}
    fam = int.from_bytes(raw[:2], "little")
    if fam == AF_INET and len(raw) >= 8:
        return {"family": "inet", "host": socket.inet_ntop(socket.AF_INET, raw[4:8]),
                "port": int.from_bytes(raw[2:4], "big")}
    if fam == AF_INET6 and len(raw) >= 24:
        return {"family": "inet6", "host": socket.inet_ntop(socket.AF_INET6, raw[8:24]),
                "port": int.from_bytes(raw[2:4], "big")}
    if fam == AF_UNIX:
        p = raw[2:110]
        if p[:1] == b"\0":
            return {"family": "unix", "path": "@" + p[1:].rstrip(b"\0").decode("utf-8", "backslashreplace")}
        return {"family": "unix", "path": p.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")}
    return {"family": fam, "raw": raw[:128].hex()}


def open_is_write(flags: int) -> bool:
    return bool(flags & O_ACCMODE) or bool(flags & (O_CREAT | O_TRUNC | O_APPEND))


@register
class TraceSink(Monitor):
    """Decodes gVisor trace points into proc.exec / proc.clone / proc.exit / proc.open / proc.connect."""

    source = "proc"
    name = "trace"
    producer = "trace"
    lane = 30

    @classmethod
    def from_context(cls, ctx: MonitorContext) -> TraceSink:
        # Executed binaries are hashed through the host side of the mounts they come from.
        mounts = {"/usr": Path("/usr"), "/workspace": ctx.workspace, **ctx.task.ro_mounts}
        return cls(TraceSinkConfig(socket_path=ctx.state_dir / "sink.sock", hash_mounts=mounts))

    def __init__(self, cfg: TraceSinkConfig):
        super().__init__()
        self.cfg = cfg
        self.tree = ProcTree()
        self.counts: dict[str, int] = {"messages": 0, "malformed": 0, "oversized": 0, "unknown": 0,
                                       "threads": 0, "opens_seen": 0, "opens_suppressed": 0,
                                       "bad_handshakes": 0, "runsc_dropped": 0, "queue_dropped": 0}
        self.unknown_types: dict[int, int] = {}
        self.connected = threading.Event()
        self._q: queue.Queue[tuple[int, bytes] | None] = queue.Queue(cfg.queue_max)
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._abandoned = 0
        self._dropped_seen: dict[int, int] = {}   # connection -> last cumulative dropped count
        self._pending_loss: dict[str, int] = {}   # reason -> count not yet recorded
        self._loss_lock = threading.Lock()
        self._connects: dict[int, bytes] = {}     # tid -> sockaddr seen at connect/enter
        self._bad_events = 0
        self._opens = 0
        self._hashes: dict[tuple[int, int, int, int], str] = {}

    # -- configuration for runsc -------------------------------------------------------
    def pod_init_config(self) -> dict[str, Any]:
        points = []
        for name in self.cfg.points:
            pt: dict[str, Any] = {"name": name, "context_fields": list(CONTEXT_FIELDS)}
            if name == "sentry/execve":
                pt["optional_fields"] = ["binary_info"]
            elif name.startswith("syscall/") and name.split("/")[1] in ("openat", "connect", "dup2", "dup3"):
                pt["optional_fields"] = ["fd_path"]
            points.append(pt)
        return {"trace_session": {"name": "Default", "points": points,
                                  "sinks": [{"name": "remote", "config": {
                                      "endpoint": str(self.cfg.socket_path), "retries": self.cfg.retries,
                                      "backoff_max": self.cfg.backoff_max}}]}}

    def runsc_flags(self, path: Path | None = None) -> list[str]:
        """Write the pod-init config (to ``path``, default beside the socket); the global
        runsc flags that load it. runsc connects at boot: start() first."""
        path = path or self.cfg.socket_path.parent / "pod-init.json"
        path.write_text(json.dumps(self.pod_init_config(), indent=1))
        return ["--pod-init-config", str(path)]

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, record: Record) -> None:
        self._record_fn = record
        path = str(self.cfg.socket_path)
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(path)
        os.chmod(path, 0o600)
        s.listen(self.cfg.max_connections)
        s.settimeout(0.2)
        self._listener = s
        for fn, nm in ((self._accept_loop, "trace-accept"), (self._decode_loop, "trace-decode")):
            t = threading.Thread(target=fn, name=nm, daemon=True)
            t.start()
            self._threads.append(t)
        self._detail = f"listening on {path}"

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        # Let frames already in the socket reach the queue before closing it.
        deadline = time.monotonic() + 2.0
        while self._conns and time.monotonic() < deadline and not self._q.empty():
            time.sleep(0.05)
        self._stopping.set()
        for c in list(self._conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._listener is not None:
            self._listener.close()
        for t in self._threads:
            if t.name != "trace-decode":
                t.join(5)
        self._q.put(None)  # after the readers: nothing is queued behind the end marker
        for t in self._threads:
            if t.name != "trace-decode":
                t.join(10)
        # Every frame read is decoded and recorded before we report: a burst (pip unpacking
        # thousands of files) can leave a backlog when the sandbox exits. Bounded: what is
        # still queued at the deadline is counted as lost, never dropped silently.
        decoder = next((t for t in self._threads if t.name == "trace-decode"), None)
        if decoder is not None:
            decoder.join(self.cfg.drain_timeout_s)
            if decoder.is_alive():
                self._abandon.set()
                decoder.join(10)
                left = self._q.qsize() + self._abandoned
                if left:
                    self._add_loss(f"sink stopped with {left} frames not decoded (drain timeout)", left)
        for tid, addr in list(self._connects.items()):  # enter without exit: no result
            self._emit_connect(tid, None, addr, None)
        self._flush_loss()
        self._record(TraceSummary(**self.counts, unknown_types={str(k): v for k, v in self.unknown_types.items()}))
        try:
            os.unlink(self.cfg.socket_path)
        except OSError:
            pass
        self._detail = "stopped"

    # -- socket side ------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if len(self._conns) >= self.cfg.max_connections:
                conn.close()
                self.counts["bad_handshakes"] += 1
                continue
            t = threading.Thread(target=self._conn_loop, args=(conn,), name="trace-conn", daemon=True)
            self._conns.append(conn)
            self._threads.append(t)
            t.start()

    def _handshake(self, conn: socket.socket) -> int | None:
        conn.settimeout(self.cfg.handshake_timeout_s)
        try:
            data, _anc, flags, _ = conn.recvmsg(4096)
            if not data or flags & socket.MSG_TRUNC:
                return None
            hs = tp.Handshake.FromString(data)
            conn.sendall(tp.Handshake(version=tp.WIRE_VERSION).SerializeToString())
        except Exception:  # noqa: BLE001 - timeout, reset, garbage
            return None
        conn.settimeout(None)
        return int(hs.version)

    def _conn_loop(self, conn: socket.socket) -> None:
        cid = conn.fileno()
        try:
            version = self._handshake(conn)
            if version is None or version < tp.WIRE_VERSION:
                self.counts["bad_handshakes"] += 1
                self._bad_frame("bad_handshake", 0)
                return
            try:  # a deeper buffer means fewer points dropped by runsc during bursts
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            except OSError:
                pass
            self._record(TraceConnected(wire_version=version))
            self.connected.set()
            self._dropped_seen[cid] = 0
            limit = self.cfg.max_frame
            wait = 0
            while True:
                # Block for the first frame, then drain without blocking: each wake-up costs
                # a GIL hand-over, and the kernel queues only net.unix.max_dgram_qlen frames.
                try:
                    data, _anc, flags, _ = conn.recvmsg(limit + 1, 0, wait)
                except BlockingIOError:
                    wait = 0
                    continue
                except OSError:
                    break
                wait = socket.MSG_DONTWAIT
                if not data:
                    break
                if flags & socket.MSG_TRUNC or len(data) > limit:
                    self.counts["oversized"] += 1
                    self._bad_frame("oversized", len(data))
                    continue
                try:
                    self._q.put_nowait((cid, data))
                except queue.Full:
                    self.counts["queue_dropped"] += 1
                    self._add_loss("sink queue full", 1)
        finally:
            conn.close()
            if conn in self._conns:
                self._conns.remove(conn)
            if not self._stopping.is_set():
                self._record(TraceDisconnected())
                self._detail = "runsc disconnected"

    # -- decoding -------------------------------------------------------------------------------
    def _decode_loop(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._q.get(timeout=0.5)
            except queue.Empty:
                item = ()  # type: ignore[assignment]
            if item is None:
                break
            if item and self._abandon.is_set():
                self._abandoned += 1
                continue
            if item:
                try:
                    self._decode(*item)
                except Exception as exc:  # noqa: BLE001 - hostile input must not kill us
                    self.counts["malformed"] += 1
                    self._bad_frame(f"decode error: {type(exc).__name__}", len(item[1]))
            if time.monotonic() - last_flush >= 1.0:
                self._flush_loss()
                last_flush = time.monotonic()

    def _decode(self, cid: int, data: bytes) -> None:
        if len(data) < tp.HEADER.size:
            self.counts["malformed"] += 1
            return self._bad_frame("short header", len(data))
        hsize, mtype, dropped = tp.HEADER.unpack_from(data)
        if hsize < tp.HEADER.size or hsize > len(data):
            self.counts["malformed"] += 1
            return self._bad_frame("bad header size", len(data))
        delta = (dropped - self._dropped_seen.get(cid, 0)) & 0xFFFFFFFF
        if delta and delta < 1 << 31:  # a smaller value is a reordering/garbage, not a loss
            self._dropped_seen[cid] = dropped
            self.counts["runsc_dropped"] += delta
            self._add_loss("runsc dropped trace points (sink socket full)", delta)
        self.counts["messages"] += 1
        cls = tp.BY_TYPE.get(mtype)
        if cls is None:
            self.counts["unknown"] += 1
            if len(self.unknown_types) < 64 or mtype in self.unknown_types:
                self.unknown_types[mtype] = self.unknown_types.get(mtype, 0) + 1
            return None
        try:
            msg = cls.FromString(data[hsize:])
        except Exception:  # noqa: BLE001 - DecodeError and friends
            self.counts["malformed"] += 1
            return self._bad_frame("undecodable payload", len(data))
        self._handle(mtype, msg)
        return None

    def _ctx(self, msg: Any) -> dict[str, Any]:
        c = msg.context_data
        out: dict[str, Any] = {"pid": c.thread_group_id, "tid": c.thread_id, "comm": c.process_name,
                               "time_ns": c.time_ns}
        if c.HasField("credentials"):
            out["uid"] = c.credentials.effective_uid
        return out

    def _out(self, ev: ProcExec | ProcClone | ProcExit) -> None:
        self.tree.update(ev)
        self._record(ev)

    def _handle(self, mtype: int, msg: Any) -> None:
        ctx = self._ctx(msg)
        if mtype == tp.MSG_SYSCALL_OPEN:
            return self._open(ctx, msg)
        if mtype == tp.MSG_SYSCALL_CONNECT:
            tid = ctx["tid"]
            if not msg.HasField("exit"):
                if len(self._connects) < 100_000:
                    self._connects[tid] = bytes(msg.address)
                return None
            addr = bytes(msg.address) or self._connects.get(tid, b"")
            self._connects.pop(tid, None)
            return self._emit_connect(tid, ctx, addr, msg.exit)
        if mtype == tp.MSG_SYSCALL_DUP:
            return self._dup(ctx, msg)
        if mtype == tp.MSG_SENTRY_EXEC:
            pid = ctx["pid"]
            ident: dict[str, Any] = {}
            if msg.binary_mode:  # binary_info: who owns what ran (uid 1000: the agent's own file)
                ident.update(binary_mode=oct(msg.binary_mode), binary_uid=msg.binary_uid, binary_gid=msg.binary_gid)
            if msg.binary_sha256:
                ident.update(binary_sha256=bytes(msg.binary_sha256).hex(), binary_sha256_by="runsc")
            elif (h := self._host_hash(msg.binary_path)) is not None:
                ident.update(binary_sha256=h, binary_sha256_by="host")
            return self._out(ProcExec(**ctx, ppid=self.tree.ppid(pid), argv=list(msg.argv)[:4096],
                                      exe=msg.binary_path, cwd=msg.context_data.cwd, **ident))
        if mtype == tp.MSG_CONTAINER_START:
            return self._out(ProcExec(**ctx, ppid=None, argv=list(msg.args)[:4096],
                                      exe=msg.args[0] if msg.args else None, cwd=msg.cwd,
                                      container_id=msg.id, container_start=True))
        if mtype == tp.MSG_SENTRY_CLONE:
            child = msg.created_thread_group_id
            if child == ctx["pid"]:
                self.counts["threads"] += 1
                return None
            return self._out(ProcClone(**ctx, child_pid=child, child_tid=msg.created_thread_id, flags=msg.flags))
        if mtype == tp.MSG_SENTRY_TASK_EXIT:
            if ctx["tid"] != ctx["pid"]:
                return None  # a thread, not the process
            return self._out(ProcExit(**ctx, exit_status=msg.exit_status))
        return None

    def _host_hash(self, path: str) -> str | None:
        """sha256 of an executed file, read through the host side of its mount (cached per
        inode and mtime). Hashed when the event is decoded, milliseconds after the exec."""
        path = posixpath.normpath(path)
        for prefix, host in sorted(self.cfg.hash_mounts.items(), key=lambda kv: -len(kv[0])):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                target = Path(host) / posixpath.relpath(path, prefix)
                break
        else:
            return None
        try:
            # The agent controls symlinks under its workspace: never read outside the mount.
            base = os.path.realpath(host)
            if os.path.commonpath([base, os.path.realpath(target)]) != base:
                return None
            st = os.stat(target)
            key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            if key in self._hashes:
                return self._hashes[key]
            if st.st_size > self.cfg.hash_max_bytes or not os.path.isfile(target):
                return None
            h = hashlib.sha256()
            with open(target, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError:
            return None
        if len(self._hashes) < 10_000:
            self._hashes[key] = h.hexdigest()
        return h.hexdigest()

    def _open(self, ctx: dict[str, Any], msg: Any) -> None:
        self.counts["opens_seen"] += 1
        path = msg.pathname
        if not path.startswith("/"):
            base = msg.context_data.cwd if msg.fd == AT_FDCWD else (msg.fd_path or "")
            path = posixpath.join(base or "?", path)
        path = posixpath.normpath(path)
        write = open_is_write(msg.flags)
        res = msg.exit.result if msg.HasField("exit") else None
        err = msg.exit.errorno if msg.HasField("exit") else None
        if not write and (path.startswith(QUIET_PREFIXES) or path in ("/", ".")):
            return None
        if self._opens >= self.cfg.max_open_events:
            self.counts["opens_suppressed"] += 1
            return None
        self._opens += 1
        self._record(ProcOpen(**ctx, path=path, flags=msg.flags, write=write, result=res, errno=err,
                              **({"missing": True} if err == ENOENT else {})))
        return None

    def _dup(self, ctx: dict[str, Any], msg: Any) -> None:
        # Only a pipe made a process's stdin/stdout/stderr is recorded: that is how a shell
        # wires a pipeline (and how a parent captures a child's output), and it is rare.
        if msg.new_fd not in (0, 1, 2) or not msg.fd_path.startswith("pipe:"):
            return None
        if msg.HasField("exit") and msg.exit.result < 0:
            return None
        self._record(ProcDup(**ctx, old_fd=msg.old_fd, new_fd=msg.new_fd, fd_path=msg.fd_path))
        return None

    def _emit_connect(self, tid: int, ctx: dict[str, Any] | None, addr: bytes, exit_: Any) -> None:
        self._record(ProcConnect(**(ctx or {"tid": tid, "pid": None}), address=decode_sockaddr(addr),
                                 result=exit_.result if exit_ is not None else None,
                                 errno=exit_.errorno if exit_ is not None else None))

    # -- loss and bad input ---------------------------------------------------------------------
    def _add_loss(self, reason: str, n: int) -> None:
        with self._loss_lock:
            self._pending_loss[reason] = self._pending_loss.get(reason, 0) + n

    def _flush_loss(self) -> None:
        with self._loss_lock:
            pending, self._pending_loss = self._pending_loss, {}
        for reason, n in pending.items():
            self._record_lost(n, reason)

    def _bad_frame(self, reason: str, size: int) -> None:
        self._add_loss(f"rejected frame: {reason}", 1)
        if self._bad_events < _BAD_FRAME_EVENTS:
            self._bad_events += 1
            self._record(ProcBadFrame(reason=reason, bytes=size))

    def status(self):  # type: ignore[no-untyped-def]
        st = super().status()
        c = self.counts
        detail = (f"{st.detail}; messages={c['messages']} malformed={c['malformed']} "
                  f"oversized={c['oversized']} unknown={c['unknown']} runsc_dropped={c['runsc_dropped']}")
        return st.model_copy(update={"detail": detail})

