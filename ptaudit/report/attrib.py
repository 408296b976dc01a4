"""Which command line wrote which file: a small process index built from ``proc.*`` events.

A file event (``fs.*``) names a path but no process. It is attributed to the process whose
most recent ``proc.open`` for writing named the same path, or, when the sandbox and the
file monitor see the workspace under different prefixes, a path that ends with it
(``/workspace/out/a.bin`` vs ``out/a.bin``). Known gaps: a file written through a
descriptor inherited from another process, or renamed after opening, stays unattributed.

When ``monitors/proctree.py`` lands, :class:`ProcIndex` can delegate to its
``ProcTree.feed(event)`` / ``.cmdline(pid)``; the interface here is the same.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

_O_ACCMODE = 3  # O_WRONLY = 1, O_RDWR = 2
_O_CREAT = 0o100
_O_TRUNC = 0o1000
_MAX_PROCS = 50_000
_MAX_OPEN_PATHS = 100_000
_PER_BASENAME = 4


@dataclass
class Proc:
    pid: int
    argv: list[str]
    seq: int
    ts: int
    ppid: int | None = None
    cwd: str | None = None
    exit_code: int | None = None
    files: dict[str, None] = field(default_factory=dict)  # ordered set, capped
    files_more: int = 0

    @property
    def cmdline(self) -> str:
        return shlex.join(self.argv) if self.argv else f"(pid {self.pid})"


def opened_for_write(data: dict[str, Any]) -> bool:
    """``proc.open`` payloads say ``write: true`` or carry open(2) flags (int or names)."""
    if data.get("write") is True:
        return True
    flags = data.get("flags")
    if isinstance(flags, int) and not isinstance(flags, bool):
        return bool(flags & _O_ACCMODE) or bool(flags & (_O_CREAT | _O_TRUNC))
    if isinstance(flags, str | list):
        text = flags if isinstance(flags, str) else "|".join(map(str, flags))
        return any(f in text for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"))
    return False


def _pid(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class ProcIndex:
    """pid -> process (latest exec wins, pids are reused), path -> writing process."""

    def __init__(self, files_per_proc: int = 50):
        self.procs: dict[int, Proc] = {}
        self.order: list[Proc] = []  # every exec seen (capped), for the report tables
        self.exec_count = 0
        self._writer: dict[str, Proc] = {}
        self._by_base: dict[str, list[str]] = {}
        self._files_per_proc = files_per_proc

    def feed(self, kind: str, seq: int, ts: int, data: dict[str, Any]) -> None:
        if kind == "proc.exec":
            pid = _pid(data.get("pid"))
            if pid is None:
                return
            argv = data.get("argv")
            argv = [str(a) for a in argv] if isinstance(argv, list) else ([str(argv)] if argv else [])
            cwd = data.get("cwd")
            p = Proc(pid, argv, seq, ts, _pid(data.get("ppid")), cwd if isinstance(cwd, str) else None)
            self.exec_count += 1
            self.procs[pid] = p
            if len(self.order) < _MAX_PROCS:
                self.order.append(p)
        elif kind == "proc.exit":
            pid = _pid(data.get("pid"))
            if pid is not None and pid in self.procs:
                code = data.get("exit_code")
                self.procs[pid].exit_code = code if isinstance(code, int) else None
        elif kind == "proc.open":
            pid, path = _pid(data.get("pid")), data.get("path")
            if pid is None or not isinstance(path, str) or not opened_for_write(data):
                return
            proc = self.procs.get(pid)
            if proc is None:
                proc = Proc(pid, [], seq, ts)
                self.procs[pid] = proc
            if path not in self._writer and len(self._writer) >= _MAX_OPEN_PATHS:
                return
            self._writer[path] = proc
            base = self._by_base.setdefault(path.rsplit("/", 1)[-1], [])
            if path in base:
                base.remove(path)
            base.append(path)
            del base[:-_PER_BASENAME]

    def writer_of(self, path: str) -> Proc | None:
        """The process that last opened ``path`` (or a path ending with it) for writing."""
        proc = self._writer.get(path)
        if proc is not None:
            return proc
        for cand in reversed(self._by_base.get(path.rsplit("/", 1)[-1], [])):
            if cand.endswith("/" + path.lstrip("/")) or path.endswith("/" + cand.lstrip("/")):
                return self._writer[cand]
        return None

    def attribute(self, path: str) -> Proc | None:
        """Record that ``path`` was written, under its writer; returns the writer."""
        proc = self.writer_of(path)
        if proc is not None and path not in proc.files:
            if len(proc.files) < self._files_per_proc:
                proc.files[path] = None
            else:
                proc.files_more += 1
        return proc
