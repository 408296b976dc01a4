"""Group commit: many producers share fdatasyncs, nothing is acknowledged (or returned from
record()) before it is durable, a killed recorder keeps every acked record, overload is
counted, and a failed write stops the writer without leaving a partial line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from ptaudit.core.client import RecorderClient
from ptaudit.core.events import RunNote
from ptaudit.core.runlog import read_events
from ptaudit.core.session import RunSession
from ptaudit.core.verify import verify_run

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _spawn_producer(sock: Path, name: str, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "producer.py"), str(sock), name, str(n)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)


def test_record_returns_only_once_durable_and_threads_share_commits(tmp_path: Path) -> None:
    with RunSession.create(tmp_path / "run") as s:
        early: list[tuple[int, int]] = []

        def work(k: int) -> None:
            for i in range(150):
                ev = s.record(RunNote(note=f"t{k}-{i}"))
                if s.log.durable_seq < ev.seq:
                    early.append((ev.seq, s.log.durable_seq))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        evs = s.record_many([RunNote(note=f"batch-{i}") for i in range(500)])
        assert s.log.durable_seq >= evs[-1].seq
        assert [e.seq for e in evs] == list(range(evs[0].seq, evs[0].seq + 500))
        records, commits = s.log.next_seq, s.log.commits
    assert early == []
    assert commits < records  # fdatasyncs were shared
    res = verify_run(tmp_path / "run")
    assert res.ok and res.sealed, res.problems
    notes = [e.data["note"] for e in read_events(tmp_path / "run" / "events.jsonl") if e.kind == "run.note"]
    assert len(notes) == 8 * 150 + 500
    for k in range(8):  # each thread's own order is kept
        assert [n for n in notes if n.startswith(f"t{k}-")] == [f"t{k}-{i}" for i in range(150)]
    assert [n for n in notes if n.startswith("batch-")] == [f"batch-{i}" for i in range(500)]


def test_socket_and_in_process_producers_together(tmp_path: Path) -> None:
    with RunSession.create(tmp_path / "run") as s:
        procs = [_spawn_producer(s.socket_path, name, 4000) for name in ("a", "b")]
        threads = [threading.Thread(target=lambda k=k: [s.record(RunNote(note=f"{k}:{i}")) for i in range(300)])
                   for k in range(4)]
        for t in threads:
            t.start()
        for p in procs:
            out, _ = p.communicate(timeout=180)
            assert p.returncode == 0 and "ACKED 4000" in out
        for t in threads:
            t.join()
        records, commits = s.log.next_seq, s.log.commits
    assert commits < records / 4
    assert verify_run(tmp_path / "run").ok
    events = list(read_events(tmp_path / "run" / "events.jsonl"))
    assert [e.seq for e in events] == list(range(len(events)))
    assert Counter(e.data["producer"] for e in events if e.kind == "test.event") == {"a": 4000, "b": 4000}
    for name in ("a", "b"):
        assert [e.data["i"] for e in events if e.kind == "test.event" and e.data["producer"] == name] == list(range(4000))
    assert sum(e.kind == "run.note" for e in events) == 1200


def _seq_of(path: Path, p: int) -> int:
    for e in read_events(path):
        if e.kind == "test.event" and e.data["i"] == p:
            return e.seq
    raise AssertionError(f"frame {p} acked but not in the log")


def test_no_ack_before_the_record_is_durable(tmp_path: Path) -> None:
    """Each ack the socket answers names only frames whose records the writer had already
    made durable (its durable seq advances only after fdatasync returns); so does the
    handshake's ``last`` on reconnect."""
    with RunSession.create(tmp_path / "run") as s:
        events_path = s.rundir.events_path
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(s.socket_path))
        f = raw.makefile("rb")
        raw.sendall(b'{"hello":1,"producer":"t","id":"t-1"}\n')
        assert json.loads(f.readline()) == {"ok": 1, "last": -1}
        n, checked = 3000, 0
        frames = [json.dumps({"p": i, "source": "net", "kind": "test.event", "data": {"i": i}}).encode() + b"\n"
                  for i in range(n)]
        sender = threading.Thread(target=lambda: [raw.sendall(b"".join(frames[i:i + 97])) for i in range(0, n, 97)])
        sender.start()
        last = -1
        while last < n - 1:
            msg = json.loads(f.readline())
            durable = s.log.durable_seq  # read as the ack arrives
            last = msg["ack"]
            assert _seq_of(events_path, last) <= durable
            checked += 1
        sender.join()
        raw.close()
        assert checked >= 1
        # Reconnect with the same id: "last" names only durable frames, resends are skipped.
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(s.socket_path))
        f = raw.makefile("rb")
        raw.sendall(b'{"hello":1,"producer":"t","id":"t-1"}\n')
        hello = json.loads(f.readline())
        assert hello == {"ok": 1, "last": n - 1} and _seq_of(events_path, n - 1) <= s.log.durable_seq
        raw.sendall(frames[-1] + json.dumps({"p": n, "source": "net", "kind": "test.event",
                                             "data": {"i": n}}).encode() + b"\n")
        assert json.loads(f.readline()) == {"ack": n}
        raw.close()
    ids = [e.data["i"] for e in read_events(tmp_path / "run" / "events.jsonl") if e.kind == "test.event"]
    assert ids == list(range(n + 1))  # the resent frame was not recorded twice


def test_kill_9_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rp = subprocess.Popen([sys.executable, str(HERE / "recorder_proc.py"), str(run)], stdout=subprocess.PIPE,
                          text=True, cwd=ROOT, env=ENV)
    try:
        assert rp.stdout is not None
        sock = rp.stdout.readline().split()[1]
        client = RecorderClient(sock, "net")
        for i in range(2000):
            client.emit("net", "test.event", {"i": i})
        assert client.flush(60)
        stop = threading.Event()

        def flood() -> None:  # keep frames in flight while the recorder dies
            i = 2000
            while not stop.is_set() and i < 400_000:
                client.emit("net", "test.event", {"i": i})
                i += 1
                if i % 500 == 0:
                    time.sleep(0.001)

        t = threading.Thread(target=flood)
        t.start()
        deadline = time.monotonic() + 30
        while client._acked < 6000 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(rp.pid, signal.SIGKILL)
        rp.wait(10)
        acked = client._acked  # the recorder is dead: no ack can arrive after this
        stop.set()
        t.join()
        client.close(0.5)
    finally:
        if rp.poll() is None:
            rp.kill()
            rp.wait()
    assert acked >= 6000
    res = verify_run(run)
    assert res.ok, res.problems  # a torn last line, if any, is reported as a crash, not tampering
    assert not res.sealed
    got = [e.data["i"] for e in read_events(run / "events.jsonl") if e.kind == "test.event"]
    assert got[: acked + 1] == list(range(acked + 1))


def test_overload_counts_every_lost_event(tmp_path: Path) -> None:
    run = tmp_path / "run"
    n = 60_000
    with RunSession.create(run) as s:
        client = RecorderClient(s.socket_path, "net", max_pending=300)
        assert client.connected.wait(10)
        for i in range(n):
            client.emit("net", "test.event", {"i": i})
        assert client.close(60)
    assert client.lost > 0  # 300 frames in flight cannot keep up with a tight loop
    events = list(read_events(run / "events.jsonl"))
    got = [e.data["i"] for e in events if e.kind == "test.event"]
    assert got == sorted(got) and len(set(got)) == len(got)
    assert len(got) + client.lost == n
    reported = sum(e.data["count"] for e in events if e.kind == "monitor.events_lost")
    assert reported == client.lost
    m = json.loads((run / "manifest.json").read_text())
    assert m["lossy"] is True and m["events_lost"] == client.lost
    assert verify_run(run).ok


_FAILING_WRITER = """
import json, resource, signal, sys
from pathlib import Path
from ptaudit.core.runlog import LogWriteError, RunLogWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
w = RunLogWriter(Path(sys.argv[1]))
ok, err = 0, None
try:
    for i in range(10000):
        w.append("ptaudit", "run.note", {"note": "x" * 100, "i": i})
        ok += 1
except LogWriteError as exc:
    err = str(exc)
try:
    w.append("ptaudit", "run.note", {"note": "after"})
    again = None
except LogWriteError as exc:
    again = str(exc)
w.close()
print(json.dumps({"ok": ok, "err": err, "again": again, "durable": w.durable_seq}))
"""


def test_a_failed_write_stops_the_writer_and_leaves_no_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    p = subprocess.run([sys.executable, "-c", _FAILING_WRITER, str(path)], capture_output=True, text=True,
                       env=ENV, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["err"] and "File too large" in out["err"] and out["again"]
    data = path.read_bytes()
    assert len(data) <= 20000 and data.endswith(b"\n")
    events = list(read_events(path))
    assert [e.data["i"] for e in events] == list(range(out["ok"]))  # every returned append is there
    assert out["durable"] == out["ok"] - 1
    prev = "0" * 64
    from ptaudit.core.events import line_digest

    for raw, e in zip(data.splitlines(), events, strict=True):
        assert e.prev == prev and line_digest(raw) == e.hash
        prev = e.hash


@pytest.mark.parametrize("threads", [4])
def test_bounded_queue_makes_appenders_wait_not_fail(tmp_path: Path, threads: int) -> None:
    from ptaudit.core.runlog import RunLogWriter

    w = RunLogWriter(tmp_path / "events.jsonl", max_pending_bytes=4096)
    ts = [threading.Thread(target=lambda k=k: [w.submit("ptaudit", "run.note", {"note": "y" * 200, "k": k, "i": i})
                                               for i in range(2000)]) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    w.close()
    events = list(read_events(tmp_path / "events.jsonl"))
    assert len(events) == threads * 2000 and w.durable_seq == len(events) - 1
    assert w.commits > 1
