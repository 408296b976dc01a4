"""The recorder against real producer processes over its Unix socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ptaudit.core.client import RecorderClient
from ptaudit.core.runlog import read_events
from ptaudit.core.session import RunSession
from ptaudit.core.verify import verify_run

PRODUCER = Path(__file__).with_name("producer.py")
ROOT = Path(__file__).resolve().parents[2]


def _spawn(sock: Path, name: str, n: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(PRODUCER), str(sock), name, str(n), *extra],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_two_producers_concurrently_yield_a_gapless_valid_chain(tmp_path: Path) -> None:
    with RunSession.create(tmp_path / "run") as s:
        procs = [_spawn(s.socket_path, name, 3000) for name in ("a", "b")]
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0 and "ACKED 3000" in out
    res = verify_run(tmp_path / "run")
    assert res.ok, res.problems
    events = list(read_events(tmp_path / "run" / "events.jsonl"))
    assert [e.seq for e in events] == list(range(len(events)))
    got = Counter(e.data["producer"] for e in events if e.kind == "test.event")
    assert got == {"a": 3000, "b": 3000}
    # each producer's own order is preserved
    for name in ("a", "b"):
        seen = [e.data["i"] for e in events if e.kind == "test.event" and e.data["producer"] == name]
        assert seen == list(range(3000))


def test_producer_killed_mid_write_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with RunSession.create(tmp_path / "run") as s:
        p = _spawn(s.socket_path, "victim", 500, "partial")
        assert p.stdout is not None
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.startswith("PARTIAL"):
                break
        assert "ACKED 500\n" in lines
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kinds = [e.kind for e in read_events(s.rundir.events_path)]
            if "recorder.producer_partial" in kinds:
                break
            time.sleep(0.05)
    events = list(read_events(tmp_path / "run" / "events.jsonl"))
    assert sorted(e.data["i"] for e in events if e.kind == "test.event") == list(range(500))
    partial = [e for e in events if e.kind == "recorder.producer_partial"]
    assert partial and partial[0].data["bytes"] > 0
    assert verify_run(tmp_path / "run").ok


def test_malformed_and_oversized_frames_are_recorded_not_fatal(tmp_path: Path) -> None:
    with RunSession.create(tmp_path / "run") as s:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(s.socket_path))
        raw.sendall(b"not json\n[1,2]\n")
        raw.sendall(b'{"p":0,"source":"net","kind":"x","data":{}}\n')  # before hello
        raw.sendall(b'{"hello":1,"producer":"evil","id":"e1"}\n')
        raw.sendall(b'{"p":0,"source":"root","kind":"x","data":{}}\n')  # unknown source
        raw.sendall(b"x" * (9 << 20) + b"\n")  # larger than MAX_FRAME
        raw.sendall(b'{"p":1,"source":"net","kind":"ok.after","data":{"fine":true}}\n')
        f = raw.makefile("rb")
        acks = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = f.readline()
            acks.append(json.loads(line))
            if acks[-1].get("ack") == 1:
                break
        raw.close()
        client = RecorderClient(s.socket_path, "good")
        client.emit("net", "still.works", {})
        assert client.close(10)
    events = list(read_events(tmp_path / "run" / "events.jsonl"))
    reasons = [e.data["reason"] for e in events if e.kind == "recorder.bad_frame"]
    assert reasons == ["invalid_json", "not_an_object", "bad_fields", "bad_fields", "frame_too_large"]
    assert any(e.kind == "ok.after" for e in events) and any(e.kind == "still.works" for e in events)
    assert verify_run(tmp_path / "run").ok


def test_queue_overflow_is_counted_and_reported_when_delivery_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    s = RunSession.create(run)
    s.recorder.stop()  # the recorder socket goes away: the producer cannot deliver
    client = RecorderClient(s.socket_path, "net", max_pending=10)
    for i in range(50):
        client.emit("net", "test.event", {"i": i})
    assert client.lost == 40
    s.recorder.start()  # delivery resumes
    assert client.close(20)
    s.close(exit_status=0)
    events = list(read_events(run / "events.jsonl"))
    assert sorted(e.data["i"] for e in events if e.kind == "test.event") == list(range(10))
    lost = [e for e in events if e.kind == "monitor.events_lost"]
    assert len(lost) == 1 and lost[0].data == {"producer": "net", "count": 40}
    m = json.loads((run / "manifest.json").read_text())
    assert m["lossy"] is True and m["events_lost"] == 40


def test_log_writer_chain_stays_whole_when_an_append_is_interrupted(tmp_path: Path) -> None:
    # An exception inside an append (a subscriber failing, an asynchronous exception in a
    # dying monitor thread: found by the fault soak) must leave the queued lines and the
    # writer's seq/head in agreement, or the next record would reuse a seq.
    import json

    from ptaudit.core.runlog import RunLogWriter
    from ptaudit.core.verify import verify_run
    from tests.support import make_run

    run = make_run(tmp_path / "run")
    (run / "events.jsonl").unlink()
    log = RunLogWriter(run / "events.jsonl", fsync=False)
    log.append("ptaudit", "run.note", {"note": "a"})
    calls = []

    def flaky(ev):  # type: ignore[no-untyped-def]
        calls.append(ev.seq)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what a signal delivers in the middle of a batch

    log.subscribe(flaky)
    with pytest.raises(KeyboardInterrupt):
        log.append_many([("fs", "fs.create", {"path": str(i)}) for i in range(5)])
    ev = log.append("ptaudit", "run.note", {"note": "c"})
    assert ev.seq == 3  # seq 0, then the two queued before the interruption
    log.close()
    m = json.loads((run / "manifest.json").read_text())
    m.update(sealed=False, log=None)
    (run / "manifest.json").write_text(json.dumps(m))
    res = verify_run(run)
    assert res.ok and res.records == 4 and not res.torn_tail, res.problems


def test_log_writer_fails_closed_when_its_committer_dies(tmp_path: Path) -> None:
    # Anything but an OSError in the committer (a MemoryError) must fail the log, not leave
    # every appender waiting forever for durability.
    from ptaudit.core.runlog import LogWriteError, RunLogWriter

    log = RunLogWriter(tmp_path / "events.jsonl", fsync=False)
    log.append("ptaudit", "run.note", {"note": "a"})
    failures: list[OSError] = []
    log.on_failure.append(failures.append)

    def boom(buf: bytes) -> None:
        raise MemoryError("no memory")

    log._write = boom  # type: ignore[method-assign]
    with pytest.raises(LogWriteError, match="MemoryError"):
        log.append("ptaudit", "run.note", {"note": "b"})
    assert len(failures) == 1 and log.next_seq == 1 and log.failed is not None
    with pytest.raises(LogWriteError):
        log.append("ptaudit", "run.note", {"note": "c"})
    log.close()
    assert (tmp_path / "events.jsonl").read_bytes().count(b"\n") == 1


