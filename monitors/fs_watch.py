"""Workspace files: inotify (watchdog's Linux layer) on the host side of the bind mount.

gVisor's gofer performs the agent's workspace writes on the host, so host inotify sees
them (the sandbox's /tmp, an in-sandbox tmpfs, is invisible here by design).

Events (source ``fs``, paths relative to the workspace, never following symlinks):
``fs.create`` / ``fs.modify`` / ``fs.move`` {src, dest} / ``fs.delete`` as they happen
(``fs.modify`` at most once per quiet period), ``fs.write`` once a file has been quiet for
``debounce_s`` (size, sha256, sniffed type, blob), and at the end ``fs.final_scan`` per
file plus ``fs.missed`` for every difference the live watch never reported.

Content scan: files too large to store as blobs (over ``store_max``, or stored only in
part because they grew while being read) are never skipped by
the content detectors: the ``content_scan`` hook (the leakage scanner, wired by the
application) streams them from disk when they are closed (a background thread; a file
changed again while queued is scanned once, as it is then) and again at the final scan if
they changed, and each result is
an ``fs.content_scan`` event {path, sha256, rule, bytes_scanned, notes, hits}. A scan that
fails is an ``fs.content_scan`` with an ``error`` note, so it is never a silent pass.

Loss: watchdog 6.0 reads the inotify ``IN_Q_OVERFLOW`` record (wd -1) and silently skips
it (``inotify_c.Inotify.read_events``: ``if wd == -1: continue``). We wrap the parser it
calls (``Inotify._parse_event_buffer``, transparent for every other user) to notice that
record on our reading thread; on overflow the watch is rebuilt, the tree rescanned
against what we knew, the differences emitted (``rescan: true``) and a
``monitor.events_lost`` recorded whose count is the number of differences found -- a
lower bound, since a file created and deleted inside the blind window leaves no trace.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import struct
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from watchdog.observers import inotify_c
from watchdog.observers.inotify_c import Inotify, InotifyConstants, InotifyEvent

from ptaudit.core.blobs import BlobStore
from ptaudit.core.events import (
    FsBaseline,
    FsContentScan,
    FsCreate,
    FsDelete,
    FsFinalScan,
    FsFinalSummary,
    FsMissed,
    FsModify,
    FsMove,
    FsWrite,
)
from ptaudit.core.sniff import sniff

from .base import Monitor, MonitorConfig, MonitorContext, Record, register

_C = InotifyConstants
WATCH_MASK = (_C.IN_CREATE | _C.IN_DELETE | _C.IN_MOVED_FROM | _C.IN_MOVED_TO | _C.IN_MODIFY
              | _C.IN_CLOSE_WRITE | _C.IN_ATTRIB | _C.IN_DELETE_SELF | _C.IN_MOVE_SELF)
_CHUNK = 1 << 20

# -- IN_Q_OVERFLOW hook (see module docstring) ------------------------------------------
_tls = threading.local()


def _install_overflow_hook() -> bool:
    orig = getattr(Inotify, "_parse_event_buffer", None)
    if orig is None:
        return False
    if getattr(orig, "_ptaudit_overflow", False):
        return True

    def parse(buf: bytes):  # type: ignore[no-untyped-def]
        for wd, mask, cookie, name in orig(buf):
            if wd == -1 and mask & _C.IN_Q_OVERFLOW:
                cb = getattr(_tls, "on_overflow", None)
                if cb is not None:
                    cb()
            yield wd, mask, cookie, name

    parse._ptaudit_overflow = True  # type: ignore[attr-defined]
    inotify_c.Inotify._parse_event_buffer = staticmethod(parse)  # type: ignore[method-assign,assignment]
    return True


_HOOKED = _install_overflow_hook()


def _p(path: str | None) -> str | None:
    """A path as recorded: undecodable bytes (kept as surrogates inside) shown as escapes."""
    return None if path is None else path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    ino: int
    sha256: str | None = None
    blob: str | None = None
    kind: str | None = None


def _sig(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


class FsWatchConfig(MonitorConfig):
    """Workspace file monitor settings."""

    workspace: Path = Field(description="Host directory bind-mounted at /workspace.")
    debounce_s: float = Field(default=0.5, gt=0, description="Quiet time before fs.write.")
    store_max: int = Field(default=16 << 20, ge=0, description="Files up to this size are stored as blobs "
                           "(policy monitors.fs_store_max); 0 stores none.")
    hash_timeout_s: float = Field(default=60.0, gt=0, description="Per-file hashing time bound; a file "
                                  "not hashed in time gets sha256 null and hash_timeout true.")


@register
class FsWatch(Monitor):
    """Live workspace changes plus an end-of-run reconciliation (``final_scan``)."""

    source = "fs"
    name = "fs"
    lane = 20

    @classmethod
    def from_context(cls, ctx: MonitorContext) -> FsWatch:
        from detectors.leakage import workspace_scanner

        return cls(FsWatchConfig(workspace=ctx.workspace, store_max=ctx.policy.monitors.fs_store_max), ctx.blobs,
                   content_scan=workspace_scanner(ctx.policy, ctx.task))

    def __init__(self, cfg: FsWatchConfig, blobs: BlobStore | None = None,
                 content_scan: Callable[[bytes, str], list[dict[str, Any]]] | None = None):
        super().__init__()
        self.cfg = cfg
        self.content_scan = content_scan
        self._scan_q: dict[str, tuple[bytes, str]] = {}  # rel -> (path, sha256) waiting for a content scan
        self._scan_cv = threading.Condition()
        self._scanned: dict[str, str] = {}  # rel -> sha256 of the version last content-scanned
        self._scanning: str | None = None
        self.root = os.fsencode(os.path.abspath(cfg.workspace))
        self.blobs = blobs
        self._lock = threading.RLock()
        self._files: dict[str, _Seen] = {}     # what we believe the tree holds (non-dirs)
        self._dirty: dict[str, float] = {}     # path -> monotonic time of its last change
        self._modified: set[str] = set()       # fs.modify already sent this quiet period
        self._moves: dict[int, tuple[str, bool, float]] = {}  # cookie -> (src, is_dir, t)
        self._ino: Inotify | None = None
        self._overflowed = False
        self._busy = False
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.overflows = 0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, record: Record) -> None:
        self._record_fn = record
        if not _HOOKED:
            self._detail = "watchdog without _parse_event_buffer: inotify overflow undetectable"
        self._ino = Inotify(self.root, recursive=True, event_mask=WATCH_MASK)
        n = self._baseline()
        self._record(FsBaseline(files=n, overflow_detection=_HOOKED))
        loops = [(self._read_loop, "fs-inotify"), (self._flush_loop, "fs-debounce")]
        if self.content_scan is not None:
            loops.append((self._scan_loop, "fs-content-scan"))
        for fn, nm in loops:
            t = threading.Thread(target=fn, name=nm, daemon=True)
            t.start()
            self._threads.append(t)
        self._detail = f"watching {self.cfg.workspace}"

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._settle(5.0)
        self._stopping.set()
        with self._scan_cv:
            self._scan_cv.notify_all()
        if self._ino is not None:
            self._ino.close()
        for t in self._threads:
            t.join(10 if t.name != "fs-content-scan" else None)
        self._flush(force=True)
        self._detail = "stopped"

    def final_scan(self) -> dict[str, int]:
        """Stop the watch, then reconcile the tree with what was seen: ``fs.final_scan`` per
        file and ``fs.missed`` per unreported change. Returns counts."""
        self.stop()
        with self._lock:
            seen = dict(self._files)
        present: set[str] = set()
        missed = files = 0
        for rel, path, st in self._walk():
            present.add(rel)
            files += 1
            prev = seen.get(rel)
            if stat.S_ISLNK(st.st_mode):
                if prev is None or _sig(st) != (prev.size, prev.mtime_ns, prev.ino):
                    missed += 1
                    self._record(FsMissed(path=_p(rel), change="created" if prev is None else "modified"))
                try:
                    target: str | None = os.fsdecode(os.readlink(path))
                except OSError:
                    target = None
                self._record(FsFinalScan(path=_p(rel), type="symlink", target=_p(target), size=st.st_size,
                                         sha256=None, blob=None))
                continue
            if prev is not None and _sig(st) == (prev.size, prev.mtime_ns, prev.ino) and prev.sha256:
                info: dict[str, Any] = {"size": prev.size, "sha256": prev.sha256, "type": prev.kind,
                                        "blob": prev.blob}
            else:
                info = self._digest(path, st)
                info["blob"] = (info.get("blobs") or [None])[0]
            if prev is None or _sig(st) != (prev.size, prev.mtime_ns, prev.ino):
                missed += 1
                self._record(FsMissed(path=_p(rel), change="created" if prev is None else "modified"))
            self._record(FsFinalScan(path=_p(rel), size=info["size"], sha256=info["sha256"], type=info["type"],
                                     blob=info["blob"], **({"blobs": [info["blob"]]} if info["blob"] else {})))
            if self._wants_scan(info):
                self._scan_now(path, rel, info["sha256"])
        for rel in sorted(set(seen) - present):
            missed += 1
            self._record(FsMissed(path=_p(rel), change="deleted"))
        self._record(FsFinalSummary(files=files, missed=missed, overflows=self.overflows))
        return {"files": files, "missed": missed}

    # -- reading ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        _tls.on_overflow = self._on_overflow
        while not self._stopping.is_set():
            ino = self._ino
            assert ino is not None
            try:
                events = ino.read_events()
            except Exception as exc:  # noqa: BLE001 - e.g. KeyError on a stale wd
                if self._stopping.is_set():
                    break
                self._recover(f"inotify read failed: {exc!r}")
                continue
            if self._stopping.is_set() and not events:
                break
            self._busy = True
            try:
                for ev in events:
                    self._handle(ev)
                if self._overflowed:
                    self._overflowed = False
                    self._recover("inotify queue overflow (IN_Q_OVERFLOW)")
            except Exception as exc:  # noqa: BLE001 - never die silently
                self._fail(f"fs event handling failed: {exc!r}")
            finally:
                self._busy = False

    def _on_overflow(self) -> None:
        self._overflowed = True

    def _rel(self, p: bytes) -> str:
        # Internal keys keep undecodable bytes (surrogateescape); _p makes them printable.
        return os.fsdecode(os.path.relpath(p, self.root) if p != self.root else b".")

    def _baseline(self) -> int:
        with self._lock:
            for rel, _path, st in self._walk():
                self._files[rel] = _Seen(*_sig(st))
            return len(self._files)

    def _handle(self, ev: InotifyEvent) -> None:
        if ev.is_ignored or ev.src_path == self.root:
            if ev.is_delete_self or ev.is_move_self:
                self._fail("workspace root deleted or moved: watch lost")
            return
        rel, is_dir, now = self._rel(ev.src_path), ev.is_directory, time.monotonic()
        with self._lock:
            if ev.is_moved_from:
                self._moves[ev.cookie] = (rel, is_dir, now)
            elif ev.is_moved_to:
                src = self._moves.pop(ev.cookie, None)
                if src is None:
                    self._created(rel, is_dir, now, moved_in=True)
                else:
                    self._moved(src[0], rel, is_dir, now)
            elif ev.is_create:
                self._created(rel, is_dir, now)
            elif ev.is_delete:
                self._deleted(rel, is_dir)
            elif not is_dir and (ev.is_modify or ev.is_close_write or ev.is_attrib):
                self._dirty[rel] = now
                if ev.is_modify and rel not in self._modified:
                    self._modified.add(rel)
                    self._record(FsModify(path=_p(rel)))

    def _created(self, rel: str, is_dir: bool, now: float, moved_in: bool = False) -> None:
        self._record(FsCreate(path=_p(rel), **({"dir": True} if is_dir else {}),
                              **({"moved_in": True} if moved_in else {})))
        if not is_dir:
            self._files.setdefault(rel, _Seen(-1, -1, -1))
            self._dirty[rel] = now
        elif moved_in:  # a tree moved in from outside: its files are new to us
            for sub, _path, _st in self._walk(os.path.join(self.root, os.fsencode(rel))):
                self._record(FsCreate(path=_p(sub), moved_in=True))
                self._files.setdefault(sub, _Seen(-1, -1, -1))
                self._dirty[sub] = now

    def _deleted(self, rel: str, is_dir: bool, moved_out: bool = False) -> None:
        self._record(FsDelete(path=_p(rel), **({"dir": True} if is_dir else {}),
                              **({"moved_out": True} if moved_out else {})))
        for key in self._subtree(rel) if is_dir else [rel]:
            self._files.pop(key, None)
            self._dirty.pop(key, None)
            self._modified.discard(key)

    def _moved(self, src: str, dest: str, is_dir: bool, now: float) -> None:
        self._record(FsMove(src=_p(src), dest=_p(dest), **({"dir": True} if is_dir else {})))
        for key in self._subtree(src) if is_dir else [src]:
            new = dest + key[len(src):]
            if key in self._files:
                self._files[new] = self._files.pop(key)
            if key in self._dirty:
                self._dirty[new] = self._dirty.pop(key)
            self._modified.discard(key)
        if not is_dir:
            self._files.setdefault(dest, _Seen(-1, -1, -1))
            # A hash of the source may be racing this rename: let the destination get its
            # own fs.write unless its content is already known (then _write_event skips it).
            self._dirty[dest] = now

    def _subtree(self, rel: str) -> list[str]:
        pre = rel + "/"
        return [k for k in set(self._files) | set(self._dirty) if k == rel or k.startswith(pre)]

    # -- overflow / read failure ----------------------------------------------------------
    def _recover(self, reason: str) -> None:
        """Rebuild the watch (new directories may be unwatched), then rescan the tree."""
        self.overflows += 1
        old = self._ino
        try:
            self._ino = Inotify(self.root, recursive=True, event_mask=WATCH_MASK)
        except OSError as exc:
            self._fail(f"cannot re-create inotify watch after {reason}: {exc}")
            self._stopping.set()
            return
        if old is not None:
            old.close()
        diffs = self._rescan()
        self._record_lost(max(1, diffs), reason, estimated=True, rescan_changes=diffs)

    def _rescan(self) -> int:
        now, diffs = time.monotonic(), 0
        with self._lock:
            self._moves.clear()
            present = set()
            for rel, _path, st in self._walk():
                present.add(rel)
                prev = self._files.get(rel)
                if prev is None:
                    self._record(FsCreate(path=_p(rel), rescan=True))
                elif prev.size < 0 or _sig(st) == (prev.size, prev.mtime_ns, prev.ino):
                    continue  # already pending an fs.write, or unchanged
                else:
                    self._record(FsModify(path=_p(rel), rescan=True))
                diffs += 1
                self._files.setdefault(rel, _Seen(-1, -1, -1))
                self._dirty[rel] = now
            for rel in sorted(set(self._files) - present):
                diffs += 1
                self._record(FsDelete(path=_p(rel), rescan=True))
                self._files.pop(rel, None)
                self._dirty.pop(rel, None)
        return diffs

    def _settle(self, timeout: float) -> None:
        """Wait until inotify has nothing queued and the reader is idle (end of run)."""
        deadline, quiet = time.monotonic() + timeout, 0
        buf = bytearray(4)
        while time.monotonic() < deadline and quiet < 3:
            pending = 0
            try:
                if self._ino is not None:
                    fcntl.ioctl(self._ino.fd, termios.FIONREAD, buf)
                    pending = struct.unpack("i", buf)[0]
            except OSError:
                pass
            quiet = quiet + 1 if (pending == 0 and not self._busy) else 0
            time.sleep(0.05)

    # -- debounce and hashing -----------------------------------------------------------
    def _flush_loop(self) -> None:
        while not self._stopping.wait(min(0.1, self.cfg.debounce_s / 2)):
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001
                self._fail(f"fs flush failed: {exc!r}")

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            due = [p for p, t in self._dirty.items() if force or now - t >= self.cfg.debounce_s]
            for p in due:
                self._dirty.pop(p, None)
                self._modified.discard(p)
            stale = [c for c, (_, _, t) in self._moves.items() if force or now - t >= 0.5]
            for c in stale:  # moved out of the workspace: gone for us
                src, is_dir, _ = self._moves.pop(c)
                self._deleted(src, is_dir, moved_out=True)
        for rel in due:
            self._write_event(rel)

    def _write_event(self, rel: str) -> None:
        path = os.path.join(self.root, os.fsencode(rel))
        try:
            st = os.lstat(path)
        except OSError:
            return  # already gone; its fs.delete says so
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.fsdecode(os.readlink(path))
            except OSError:
                target = None
            self._record(FsWrite(path=_p(rel), type="symlink", target=_p(target), size=st.st_size))
            with self._lock:
                self._files[rel] = _Seen(*_sig(st), kind="symlink")
            return
        if not stat.S_ISREG(st.st_mode):  # FIFOs, sockets, devices: named, never opened
            self._record(FsWrite(path=_p(rel), type="special", mode=st.st_mode))
            with self._lock:
                self._files.pop(rel, None)
            return
        with self._lock:
            prev = self._files.get(rel)
        if prev is not None and prev.sha256 and _sig(st) == (prev.size, prev.mtime_ns, prev.ino):
            return  # attrib-only change: content already reported
        info = self._digest(path, st)
        if info.get("error") == os.strerror(errno.ENOENT):
            return  # renamed or deleted meanwhile: fs.move / fs.delete say so
        self._record(FsWrite(path=_p(rel), **info))
        if self._wants_scan(info):
            with self._scan_cv:
                self._scan_q[rel] = (path, info["sha256"])
                self._scan_cv.notify()
        with self._lock:
            if rel in self._files or prev is None:
                blob = (info.get("blobs") or [None])[0]
                self._files[rel] = _Seen(st.st_size, st.st_mtime_ns, st.st_ino,
                                         info["sha256"], blob, info["type"])

    def _digest(self, path: bytes, st: os.stat_result) -> dict[str, Any]:
        """Hash a regular file without following links or blocking on FIFOs, time-bounded."""
        out: dict[str, Any] = {"size": st.st_size, "sha256": None, "type": "unknown"}
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            out["error"] = exc.strerror
            return out
        deadline = time.monotonic() + self.cfg.hash_timeout_s
        h = hashlib.sha256()
        size = 0
        writer = None
        with os.fdopen(fd, "rb", buffering=0) as fh:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                out["type"] = "special"
                return out
            if self.blobs is not None and 0 < fst.st_size <= self.cfg.store_max:
                writer = self.blobs.writer(self.cfg.store_max)
            first = True
            while chunk := fh.read(_CHUNK):
                if first:
                    out["type"], first = sniff(chunk[:4096]), False
                h.update(chunk)
                size += len(chunk)
                if writer is not None:
                    writer.write(chunk)
                if time.monotonic() > deadline:
                    out["hash_timeout"] = True
                    if writer is not None:
                        writer.abort()
                    return out
            if first:
                out["type"] = "empty"
        out["size"], out["sha256"] = size, h.hexdigest()
        if writer is not None:
            info = writer.close()
            if info.blob:
                out["blobs"] = [info.blob]
                if info.truncated:
                    out["blob_truncated"] = True
        return out

    # -- content scan of files not stored ---------------------------------------------------
    def _wants_scan(self, info: dict[str, Any]) -> bool:
        stored = (info.get("blobs") or info.get("blob")) and not info.get("blob_truncated")
        return (self.content_scan is not None and not stored and info.get("type") not in ("special", "empty")
                and info.get("size", 0) > 0)

    def _scan_loop(self) -> None:
        while True:
            with self._scan_cv:
                while not self._scan_q and not self._stopping.is_set():
                    self._scan_cv.wait()
                if self._stopping.is_set():
                    return  # what is left is scanned by final_scan
                rel = next(iter(self._scan_q))
                path, sha = self._scan_q.pop(rel)
            self._scan_now(path, rel, sha)

    def _scan_now(self, path: bytes, rel: str, sha: str | None) -> None:
        """Stream one file through the content scanner; one ``fs.content_scan`` per rule."""
        assert self.content_scan is not None
        if sha is not None and self._scanned.get(rel) == sha:
            return
        self._scanning = rel
        try:
            results = self.content_scan(path, rel)
        except FileNotFoundError:
            with self._lock:
                moved = sha is not None and any(s.sha256 == sha for k, s in self._files.items() if k != rel)
            if moved:  # renamed: the new path has (or gets) its own scan
                return
            results = [{"path": rel, "notes": [f"{rel}: deleted before its content scan; not scanned"], "hits": {}}]
        except Exception as exc:  # noqa: BLE001 - recorded: an unscanned file must not pass silently
            results = [{"path": rel, "notes": [f"{rel}: content scan failed: {exc!r}"], "hits": {}}]
        finally:
            self._scanning = None
        for data in results:
            self._record(FsContentScan.model_validate({**data, "path": _p(rel), "sha256": sha}))
        if sha is not None:
            self._scanned[rel] = sha

    def _walk(self, top: bytes | None = None):  # type: ignore[no-untyped-def]
        """(rel, path, lstat) of every non-directory below top; no links followed."""
        stack = [top or self.root]
        while stack:
            try:
                it = os.scandir(stack.pop())
            except OSError:
                continue
            with it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(e.path)
                    elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                        yield self._rel(e.path), e.path, st
