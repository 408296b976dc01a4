"""A recording session: the run directory, its single log writer and the recorder socket.

    with RunSession.create(out, task=..., policy=...) as s:
        s.record(RunNote(note="..."))             # in-process producers
        RecorderClient(s.socket_path, "net")     # other processes
    # on exit: run.end appended, log closed, manifest sealed with the log head

The orchestrator (``ptaudit run``) and the tests build runs through this one class.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from .events import SOURCES, Event, EventData, RunEnd, RunStart
from .recorder import Recorder
from .rundir import InputRef, LogHead, RunDir, utc_now
from .runlog import RunLogWriter


class RunSession:
    def __init__(self, rundir: RunDir, socket_dir: Path | None = None, sources: tuple[str, ...] = SOURCES):
        self.rundir = rundir
        self.log = RunLogWriter(rundir.events_path)
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
        if self.ended:
            return
        self.ended = True
        self.recorder.stop()
        self.record(RunEnd(exit_status=exit_status, reason=reason, events_lost=self.recorder.events_lost))
        self.log.close()
        m = self.rundir.manifest()
        m.ended, m.exit_status, m.end_reason = utc_now(), exit_status, reason
        m.events_lost, m.lossy = self.recorder.events_lost, self.recorder.lossy
        m.log = LogHead(count=self.log.next_seq, head=self.log.head)
        m.sealed = True
        self.rundir.write_manifest(m)
        try:
            self._sockdir.rmdir()
        except OSError:
            pass

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close(exit_status=None if et is None else 3, reason=None if et is None else f"error: {et.__name__}")
