"""The sandbox's process tree, rebuilt from ``proc.*`` events (live in the trace sink, or
in replay by reports) so that file and network events can be attributed to a command line.

    tree = ProcTree()
    for ev in read_events(run):          # ptaudit Event objects
        tree.feed(ev)                    # or tree.update(payload) with a typed proc event
    tree.cmdline(pid); tree.ancestry(pid)

Pids are gVisor's (the sandbox's PID namespace), not host pids. A pid reused after its
process exited replaces the old entry: attribution is "the latest process with that pid".
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from .events import Event, EventDataError, ProcClone, ProcExec, ProcExit

MAX_PROCS = 1_000_000  # bound memory on fork bombs; beyond it, new pids are not tracked
_KINDS = frozenset((ProcExec.KIND, ProcClone.KIND, ProcExit.KIND))


@dataclass
class ProcInfo:
    """What is known of one process (thread group)."""

    pid: int
    ppid: int | None = None
    argv: list[str] = field(default_factory=list)   # latest exec's argv
    exe: str | None = None
    cwd: str | None = None
    uid: int | None = None
    execs: int = 0                                   # how many execs it did
    exited: bool = False
    exit_status: int | None = None


class ProcTree:
    def __init__(self) -> None:
        self.procs: dict[int, ProcInfo] = {}
        self.untracked = 0
        self.invalid = 0

    def feed(self, event: Event) -> None:
        """Consume one event; kinds other than proc.exec/clone/exit are ignored, and so are
        events whose data does not fit their kind (counted in ``invalid``)."""
        if event.kind in _KINDS:
            try:
                payload = event.payload
            except EventDataError:
                self.invalid += 1
                return
            self.update(payload)  # type: ignore[arg-type]

    def update(self, ev: ProcExec | ProcClone | ProcExit) -> None:
        pid = ev.pid
        if pid is None:
            return
        if isinstance(ev, ProcClone):
            child = ev.child_pid
            if child != pid:
                p = self._get(pid)
                c = self._new(child)
                if c is not None:
                    c.ppid = pid
                    if p is not None:
                        c.argv, c.exe, c.cwd, c.uid = list(p.argv), p.exe, p.cwd, p.uid
        elif isinstance(ev, ProcExec):
            p = self._get(pid)
            if p is None:
                return
            if p.exited:  # pid reused without a clone we saw
                p = self._new(pid)
                if p is None:
                    return
            p.argv = list(ev.argv)
            p.exe = ev.exe or p.exe
            p.cwd = ev.cwd or p.cwd
            p.uid = ev.uid if ev.uid is not None else p.uid
            if ev.ppid is not None and ev.ppid != pid and p.ppid is None:
                p.ppid = ev.ppid
            p.execs += 1
        elif isinstance(ev, ProcExit):
            p = self.procs.get(pid)
            if p is not None:
                p.exited = True
                p.exit_status = ev.exit_status

    def _get(self, pid: int) -> ProcInfo | None:
        return self.procs.get(pid) or self._new(pid)

    def _new(self, pid: int) -> ProcInfo | None:
        if pid not in self.procs and len(self.procs) >= MAX_PROCS:
            self.untracked += 1
            return None
        self.procs[pid] = ProcInfo(pid)
        return self.procs[pid]

    # -- queries ----------------------------------------------------------------------
    def ppid(self, pid: int) -> int | None:
        p = self.procs.get(pid)
        return p.ppid if p else None

    def cmdline(self, pid: int) -> str | None:
        """Shell-quoted argv of the latest program the process ran (inherited across fork)."""
        p = self.procs.get(pid)
        if p is None or not p.argv:
            return None
        return shlex.join(p.argv)

    def ancestry(self, pid: int) -> list[ProcInfo]:
        """The process, its parent, ... up to the first process with no known parent."""
        out: list[ProcInfo] = []
        seen: set[int] = set()
        cur: int | None = pid
        while cur is not None and cur not in seen and cur in self.procs:
            seen.add(cur)
            out.append(self.procs[cur])
            cur = self.procs[cur].ppid
        return out

    def attribute(self, pid: int) -> dict[str, Any]:
        """{pid, cmdline, ancestry: [cmdline, ...]} for annotating fs/net findings."""
        return {"pid": pid, "cmdline": self.cmdline(pid),
                "ancestry": [shlex.join(p.argv) if p.argv else None for p in self.ancestry(pid)[1:]]}
