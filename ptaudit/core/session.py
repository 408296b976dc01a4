"""A recording session: the run directory, its single log writer and the recorder socket.

    with RunSession.create(out, task=..., policy=...) as s:
        s.record(RunNote(note="..."))             # in-process producers
        RecorderClient(s.socket_path, "net")     # other processes
    # on exit: run.end appended, log closed, manifest sealed with the log head

The orchestrator (``ptaudit run``) and the tests build runs through this one class.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from .events import SOURCES, Event, EventData, RunEnd, RunStart
from .recorder import Recorder
from .rundir import InputRef, LogHead, RunDir, utc_now
from .runlog import LogWriteError, RunLogWriter

RESERVE = 1 << 20
"""Bytes set aside in the run directory at start and freed at close, so a run whose disk
filled up can still write its seal (the manifest)."""
SEALED_IN_CHAIN = ("findings.jsonl", "honeytokens.json")
"""Artifacts written before the log closes: their hashes go into run.end too."""


class RunSession:
    def __init__(self, rundir: RunDir, socket_dir: Path | None = None, sources: tuple[str, ...] = SOURCES):
        self.rundir = rundir
        self.log = RunLogWriter(rundir.events_path)
        self._reserve = rundir.path / ".reserve"
        try:
            with open(self._reserve, "wb") as fh:
                os.posix_fallocate(fh.fileno(), 0, RESERVE)
        except OSError:
            self._reserve.unlink(missing_ok=True)  # not enough room even for this: the start check says so
        # Unix socket paths are limited to 108 bytes: keep the socket in a short private dir.
        self._sockdir = Path(tempfile.mkdtemp(prefix="ptaudit-", dir=socket_dir or "/tmp"))
        os.chmod(self._sockdir, 0o700)
        self.socket_path = self._sockdir / "recorder.sock"
        self.recorder = Recorder(self.log, self.socket_path, sources=sources)
        self.ended = False

    @classmethod
    def create(cls, out: Path, *, command: list[str] | None = None, task: InputRef | None = None,
               policy: InputRef | None = None, world: InputRef | None = None,
               versions: dict[str, str | None] | None = None, start_data: dict[str, Any] | None = None,
               sources: tuple[str, ...] = SOURCES) -> RunSession:
        fields: dict[str, Any] = {"command": command or [], "task": task, "policy": policy, "world": world}
        if versions:
            from .rundir import base_versions
            fields["versions"] = {**base_versions(), **versions}
        rd = RunDir.create(out, **fields)
        s = cls(rd, sources=sources)
        s.recorder.start()
        m = rd.manifest()
        s.record(RunStart(run_id=m.run_id, command=m.command, versions=m.versions,
                          task=m.task.model_dump() if m.task else None,
                          policy=m.policy.model_dump() if m.policy else None, **(start_data or {})))
        return s

    def record(self, ev: EventData) -> Event:
        """Append a typed event (what every in-process producer uses); durable when it returns."""
        return self.recorder.record(ev)

    def record_many(self, evs: list[EventData]) -> list[Event]:
        """Append typed events in order; durable when it returns (one wait for the lot)."""
        return self.recorder.record_many(evs)

    def emit(self, source: str, kind: str, data: dict[str, Any] | None = None) -> Event:
        """Append raw data under any kind (test fixtures build odd logs with it)."""
        return self.recorder.emit(source, kind, data)

    def close(self, exit_status: int | None = None, reason: str | None = None) -> None:
        """Seal: run.end (with the hashes of findings.jsonl and honeytokens.json), then the
        manifest with the log's count and head. A log that failed (disk full) is sealed as
        far as it is intact, the reason saying why it ends there."""
        if self.ended:
            return
        self.ended = True
        self.recorder.stop()
        self._reserve.unlink(missing_ok=True)  # room for the seal, whatever filled the disk
        if self.log.failed is not None and not (reason or "").startswith("log_write_failed"):
            reason = log_failure_reason(self.log.failed)
        arts = self.rundir.artifact_hashes(SEALED_IN_CHAIN)
        if self.log.failed is None:
            try:
                self.record(RunEnd(exit_status=exit_status, reason=reason, events_lost=self.recorder.events_lost,
                                   artifacts=arts))
            except LogWriteError:
                reason = log_failure_reason(self.log.failed or OSError("unknown"))
        self.log.close()
        m = self.rundir.manifest()
        m.ended, m.exit_status, m.end_reason = utc_now(), exit_status, reason
        m.events_lost, m.lossy = self.recorder.events_lost, self.recorder.lossy
        m.log = LogHead(count=self.log.next_seq, head=self.log.head)
        m.artifacts = {**(m.artifacts or {}), **arts}
        m.sealed = True
        self.rundir.write_manifest(m)
        try:
            self._sockdir.rmdir()
        except OSError:
            pass

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close(exit_status=None if et is None else 3, reason="completed" if et is None else f"error: {et.__name__}")


def log_failure_reason(exc: OSError) -> str:
    """The end reason of a run whose log could not be written."""
    what = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return f"log_write_failed: events.jsonl could not be written ({what}); the agent was stopped"
