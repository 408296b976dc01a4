"""Which command line wrote which file: a small process index built from ``proc.*`` events.

A file event (``fs.*``) names a path but no process. It is attributed to the process whose
most recent ``proc.open`` for writing named the same path, or, when the sandbox and the
file monitor see the workspace under different prefixes, a path that ends with it
(``/workspace/out/a.bin`` vs ``out/a.bin``). Known gaps: a file written through a
descriptor inherited from another process, or renamed after opening, stays unattributed.

Who a pid is (argv, parent, exit status; a forked child inherits its parent's command
line) comes from :class:`ptaudit.core.proctree.ProcTree`, the one reader of ``proc.*`` events;
this module adds one row per exec for the report and the path -> writer map.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ptaudit.core.events import EventData, ProcClone, ProcExec, ProcExit, ProcOpen
from ptaudit.core.proctree import ProcTree

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


def opened_for_write(ev: ProcOpen) -> bool:
    """``write`` as the trace sink decided it, or the open(2) flags say so."""
    if ev.write:
        return True
    return ev.flags is not None and (bool(ev.flags & _O_ACCMODE) or bool(ev.flags & (_O_CREAT | _O_TRUNC)))


class ProcIndex:
    """pid -> process (latest exec wins, pids are reused), path -> writing process."""

    def __init__(self, files_per_proc: int = 50):
        self.tree = ProcTree()
        self.procs: dict[int, Proc] = {}  # pid -> the row of its latest exec (or first sighting)
        self.order: list[Proc] = []  # every exec seen (capped), for the report tables
        self.exec_count = 0
        self._writer: dict[str, Proc] = {}
        self._by_base: dict[str, list[str]] = {}
        self._files_per_proc = files_per_proc

    def _row(self, pid: int, seq: int, ts: int) -> Proc:
        info = self.tree.procs.get(pid)
        return Proc(pid, list(info.argv) if info else [], seq, ts, info.ppid if info else None,
                    info.cwd if info and isinstance(info.cwd, str) else None)

    def feed(self, seq: int, ts: int, ev: EventData) -> None:
        if isinstance(ev, ProcExec | ProcClone | ProcExit):
            self.tree.update(ev)
        pid = getattr(ev, "pid", None)
        if pid is None:
            return
        if isinstance(ev, ProcExec):
            p = self._row(pid, seq, ts)
            self.exec_count += 1
            self.procs[pid] = p
            if len(self.order) < _MAX_PROCS:
                self.order.append(p)
        elif isinstance(ev, ProcExit):
            info = self.tree.procs.get(pid)
            if pid in self.procs and info is not None:
                self.procs[pid].exit_code = info.exit_status
        elif isinstance(ev, ProcOpen):
            path = ev.path
            if not opened_for_write(ev):
                return
            proc = self.procs.get(pid)
            if proc is None:  # no exec seen for it: a fork, known by its parent's command line
                proc = self.procs[pid] = self._row(pid, seq, ts)
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
