"""Process events from inside the sandbox (source ``proc``), decoded from gVisor trace
points by monitors/trace_sink.py. Pids are the sandbox's own."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import EventData


class ProcContext(EventData):
    """Fields every trace point carries (the thread that hit it)."""

    pid: int | None = Field(default=None, description="Thread group id (the process).")
    tid: int | None = None
    comm: str | None = Field(default=None, description="Process name.")
    time_ns: int | None = None
    uid: int | None = Field(default=None, description="Effective uid.")


class ProcExec(ProcContext):
    """A program started (execve), or the container's first process (container/start)."""

    KIND = "proc.exec"
    SOURCE = "proc"
    ppid: int | None = None
    argv: list[str] = Field(default_factory=list)
    exe: str | None = None
    cwd: str | None = None
    binary_sha256: str | None = Field(default=None, description="sha256 of the executed file.")
    binary_sha256_by: str | None = Field(default=None, description='"runsc" (ExecveInfo) or "host" (hashed by '
                                         "the sink through the host side of the file's mount).")
    binary_mode: str | None = Field(default=None, description="runsc binary_info: file mode, octal.")
    binary_uid: int | None = Field(default=None, description="runsc binary_info: file owner (1000: the agent).")
    binary_gid: int | None = None
    container_id: str | None = Field(default=None, description="container/start only.")
    container_start: bool = False


class ProcClone(ProcContext):
    """A new process (new threads are only counted)."""

    KIND = "proc.clone"
    SOURCE = "proc"
    child_pid: int
    child_tid: int | None = None
    flags: int | None = None


class ProcExit(ProcContext):
    """A process (thread-group leader) exited."""

    KIND = "proc.exit"
    SOURCE = "proc"
    exit_status: int | None = None


class ProcOpen(ProcContext):
    """An open(at) outside the quiet prefixes (reads of /usr, /proc ... are not recorded)."""

    KIND = "proc.open"
    SOURCE = "proc"
    path: str = Field(description="Resolved against cwd or the dirfd.")
    flags: int | None = None
    write: bool = False
    result: int | None = None
    errno: int | None = None
    missing: bool = False


class ProcConnect(ProcContext):
    """A connect(2) inside the sandbox, with the address and its result."""

    KIND = "proc.connect"
    SOURCE = "proc"
    address: dict[str, Any] = Field(default_factory=dict,
                                    description="{family: inet/inet6, host, port} or {family: unix, path} or {family, raw}.")
    result: int | None = None
    errno: int | None = None


class ProcDup(ProcContext):
    """A pipe became a process's stdin (0), stdout (1) or stderr (2): how a shell wires a
    pipeline, and how a parent captures a child's output. Other dups are not recorded."""

    KIND = "proc.dup"
    SOURCE = "proc"
    old_fd: int
    new_fd: int
    fd_path: str = Field(description='What old_fd was, e.g. "pipe:[12]".')


class ProcBadFrame(EventData):
    """A malformed trace-point frame from runsc (only the first few are recorded; all are counted)."""

    KIND = "proc.bad_frame"
    SOURCE = "proc"
    reason: str
    bytes: int


class TraceConnected(EventData):
    """runsc connected to the trace sink."""

    KIND = "proc.trace_connected"
    SOURCE = "proc"
    wire_version: int | None = None


class TraceDisconnected(EventData):
    """runsc closed the trace connection (normal when the sandbox ends)."""

    KIND = "proc.trace_disconnected"
    SOURCE = "proc"


class TraceSummary(EventData):
    """At stop: what the trace sink saw, rejected, suppressed and lost."""

    KIND = "proc.trace_summary"
    SOURCE = "proc"
    messages: int = 0
    malformed: int = 0
    oversized: int = 0
    unknown: int = 0
    unknown_types: dict[str, int] = Field(default_factory=dict)
    threads: int = 0
    opens_seen: int = 0
    opens_suppressed: int = 0
    bad_handshakes: int = 0
    runsc_dropped: int = 0
    queue_dropped: int = 0
