"""A full disk under the run directory (a real tmpfs of 2 MiB): the log refuses further
records and says so once, what was written verifies, the run seals as incomplete; a
blob that cannot be stored is recorded with its error and makes the run lossy."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitors.fs_watch import FsWatch, FsWatchConfig
from ptaudit.core.blobs import BlobStore
from ptaudit.core.events import FsWrite, RunNote
from ptaudit.core.runlog import LogWriteError
from ptaudit.core.session import RunSession
from ptaudit.core.verdict import incomplete_reasons
from ptaudit.core.verify import verify_run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _fill(d: Path, name: str = "filler") -> None:
    fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_log_write_failure_stops_recording_and_seals_what_was_written(small: Path) -> None:
    s = RunSession.create(small / "run", command=["agent"])
    failures: list[OSError] = []
    s.log.on_failure.append(failures.append)
    for i in range(20):
        s.record(RunNote(note=f"before {i}"))
    good = s.log.next_seq
    _fill(small)
    with pytest.raises(LogWriteError):
        for _ in range(10_000):  # the last free page goes, then the write fails
            s.record(RunNote(note="x" * 400))
    n = s.log.next_seq
    for _ in range(3):
        with pytest.raises(LogWriteError):
            s.record(RunNote(note="after"))
    assert len(failures) == 1 and failures[0].errno == errno.ENOSPC  # said once, then refused quietly
    assert n >= good and s.log.next_seq == n
    s.close(exit_status=3, reason="agent_exit")
    res = verify_run(small / "run")
    assert res.ok and res.sealed and res.records == n and not res.torn_tail  # a partial record was cut off
    assert res.facts.end_reason.startswith("log_write_failed") and "disk full" in res.facts.end_reason
    assert incomplete_reasons(res.facts)[0].startswith("the run ended abnormally: log_write_failed")


def test_blob_that_cannot_be_stored_is_recorded_and_the_run_is_lossy(small: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    s = RunSession.create(small / "run", command=["agent"])
    events: list = []

    def record(ev):  # type: ignore[no-untyped-def]
        events.append(ev)
        return s.record(ev)

    mon = FsWatch(FsWatchConfig(workspace=ws, debounce_s=0.1), BlobStore(small / "run" / "blobs"))
    mon.start(record)
    _fill(small)
    os.truncate(small / "filler", os.stat(small / "filler").st_size - (64 << 10))  # room for log lines, not a blob
    (ws / "big.bin").write_bytes(os.urandom(1 << 20))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(isinstance(e, FsWrite) for e in events):
        time.sleep(0.05)
    mon.stop()
    w = next(e for e in events if isinstance(e, FsWrite) and e.path == "big.bin")
    assert w.sha256 is not None and w.blobs == [] and "No space left" in (w.store_error or ""), w
    assert mon.status().healthy  # hashing went on; only storing failed
    s.close(exit_status=0, reason="agent_exit")
    res = verify_run(small / "run")
    assert res.ok and res.facts.content_lost == 1
    assert any("bodies or files not stored" in r for r in incomplete_reasons(res.facts))
