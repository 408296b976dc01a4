"""gVisor trace sink: schemas, hostile input, and a real sandboxed agent."""
from __future__ import annotations

import hashlib
import re
import socket
import time
from pathlib import Path

import pytest

from monitors import trace_proto as tp
from monitors.trace_sink import decode_sockaddr, open_is_write
from ptaudit.core.events import Event, EventData
from ptaudit.core.proctree import ProcTree
from sandbox.install import PINNED_BINARY

from .conftest import Collector, needs_runsc, run_sandboxed, trace_sink

OLD_RUNSC = Path("/usr/bin/runsc")  # Debian 12's 2022-12 release, still supported
RELEASES = [pytest.param(PINNED_BINARY, id="2024-07"), pytest.param(OLD_RUNSC, id="2022-12")]


def _runsc_descriptors(binary: Path) -> dict[str, list[tuple[str, int, int]]]:
    """The FileDescriptorProtos compiled into a runsc binary, by message name."""
    from google.protobuf import descriptor_pb2
    data = binary.read_bytes()
    out: dict[str, list[tuple[str, int, int]]] = {}
    for m in re.finditer(rb"\n.pkg/sentry/seccheck/points/[a-z_]+\.proto", data):
        for end in range(m.start() + 200, min(m.start() + 40000, len(data)), 1):
            fd = descriptor_pb2.FileDescriptorProto()
            try:
                fd.ParseFromString(data[m.start():end])
            except Exception:  # noqa: BLE001
                continue
            if fd.syntax == "proto3" and fd.message_type:
                for msg in fd.message_type:
                    out[f"{fd.package}.{msg.name}"] = [(f.name, f.number, f.type) for f in msg.field]
                break
    return out


@pytest.mark.parametrize("binary", RELEASES)
def test_schemas_match_each_supported_runsc(binary: Path) -> None:
    if not binary.is_file():
        pytest.skip(f"{binary} not installed (make setup installs both releases)")
    embedded = _runsc_descriptors(binary)
    assert embedded, f"no seccheck descriptors found in {binary}"
    for name, fields in tp.schema_fields().items():
        # every message we decode is there, and every field we read has its number and type
        assert name in embedded, name
        assert set(fields) <= set(embedded[name]), name
    # ExecveInfo carries binary_sha256 (8) in both releases; neither fills it (see the run test)
    assert ("binary_sha256", 8, 12) in embedded["gvisor.sentry.ExecveInfo"]


@pytest.mark.parametrize("raw,expected", [
    (b"\x02\x00\x00\x09\x7f\x00\x00\x01" + b"\0" * 8, {"family": "inet", "host": "127.0.0.1", "port": 9}),
    (b"\x0a\x00\x01\xbb" + b"\0" * 4 + b"\0" * 15 + b"\x01" + b"\0" * 4,
     {"family": "inet6", "host": "::1", "port": 443}),
    (b"\x01\x00/run/x.sock\0\0\0", {"family": "unix", "path": "/run/x.sock"}),
    (b"\x01\x00\0abstract", {"family": "unix", "path": "@abstract"}),
    (b"\x02", {"family": None, "raw": "02"}),
    (b"\x02\x00\x01", {"family": 2, "raw": "020001"}),
])
def test_decode_sockaddr(raw: bytes, expected: dict) -> None:  # type: ignore[type-arg]
    assert decode_sockaddr(raw) == expected


@pytest.mark.parametrize("flags,write", [(0, False), (0o2000000, False), (1, True), (2, True),
                                         (0o100, True), (0o1000, True), (0o2000, True)])
def test_open_is_write(flags: int, write: bool) -> None:
    assert open_is_write(flags) is write


def _fake_runsc(path: Path, version: int = 1) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(str(path))
    s.send(tp.Handshake(version=version).SerializeToString())
    s.settimeout(5)
    assert tp.Handshake.FromString(s.recv(100)).version == 1
    return s


def _exec_msg(pid: int, argv: list[str]) -> bytes:
    m = tp.BY_TYPE[tp.MSG_SENTRY_EXEC](binary_path="/usr/bin/" + argv[0], argv=argv)
    m.context_data.thread_group_id = pid
    m.context_data.thread_id = pid
    m.context_data.cwd = "/workspace"
    return m.SerializeToString()


def _wait(pred, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_hostile_frames_are_rejected_and_counted(short_dir: Path) -> None:
    sink = trace_sink(short_dir, max_frame=4096)
    col = Collector()
    sink.start(col)
    bad = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # no handshake, garbage instead
    bad.connect(str(sink.cfg.socket_path))
    bad.send(b"\xff" * 50)
    s = _fake_runsc(sink.cfg.socket_path)
    frames = [
        b"\x01",                                           # shorter than a header
        tp.HEADER.pack(200, tp.MSG_SENTRY_EXEC, 0) + b"x",  # header size beyond the frame
        tp.HEADER.pack(4, tp.MSG_SENTRY_EXEC, 0) + b"xxxx",  # header size below 8
        tp.frame(999, b"whatever"),                        # unknown message type
        tp.frame(tp.MSG_SENTRY_EXEC, b"\xff\xff\xff\xff"),  # undecodable protobuf
        tp.frame(tp.MSG_SENTRY_EXEC, b"A" * 10000),        # oversized (max_frame 4096)
        tp.frame(tp.MSG_SENTRY_EXEC, _exec_msg(7, ["ls", "-l"]), dropped=5, header_size=12),
        tp.frame(tp.MSG_SENTRY_EXEC, _exec_msg(8, ["cat", "x"]), dropped=5),
    ]
    for f in frames:
        s.send(f)
    assert _wait(lambda: len(col.of("proc.exec")) == 2)
    s.close()
    bad.close()
    sink.stop()
    c = sink.counts
    assert (c["malformed"], c["oversized"], c["unknown"], c["bad_handshakes"]) == (4, 1, 1, 1)
    assert sink.unknown_types == {999: 1}
    assert [d["argv"] for d in col.of("proc.exec")] == [["ls", "-l"], ["cat", "x"]]
    lost = {d["reason"]: d["count"] for d in col.of("monitor.events_lost")}
    assert lost["runsc dropped trace points (sink socket full)"] == 5  # cumulative 5, counted once
    assert all(d["producer"] == "trace" for d in col.of("monitor.events_lost"))
    assert len(col.of("proc.bad_frame")) == 6  # 4 malformed + 1 oversized + 1 handshake
    st = sink.status()
    assert st.healthy and st.lost == 5 + 6
    summary = col.of("proc.trace_summary")[0]
    assert summary["unknown_types"] == {"999": 1} and summary["messages"] == 4  # frames with a valid header


def test_garbage_flood_does_not_kill_the_sink(short_dir: Path) -> None:
    sink = trace_sink(short_dir, queue_max=1000)
    col = Collector()
    sink.start(col)
    s = _fake_runsc(sink.cfg.socket_path)
    import random
    rnd = random.Random(1)
    for _ in range(3000):
        s.send(tp.HEADER.pack(8, rnd.choice([2, 3, 5, 7, 10]), 0) + rnd.randbytes(rnd.randrange(0, 300)))
    s.send(tp.frame(tp.MSG_SENTRY_EXEC, _exec_msg(9, ["true"])))
    assert _wait(lambda: any(d["pid"] == 9 for d in col.of("proc.exec")), 20)
    s.close()
    sink.stop()
    assert sink.status().healthy
    assert sink.counts["messages"] + sink.counts["queue_dropped"] == 3001


@pytest.mark.runsc
@needs_runsc
@pytest.mark.parametrize("binary", RELEASES)
def test_sandboxed_agent_exec_tree_and_connect(tmp_path: Path, short_dir: Path, binary: Path) -> None:
    if not binary.is_file():
        pytest.skip(f"{binary} not installed (make setup installs both releases)")
    col = Collector()
    sink = trace_sink(short_dir, hash_mounts={"/usr": Path("/usr"), "/workspace": tmp_path / "ws"})
    script = ("import subprocess, socket, shutil\n"
              "subprocess.run(['cat', '/etc/hostname'])\n"
              "shutil.copy('/usr/bin/true', '/workspace/mytool')\n"
              "subprocess.run(['/workspace/mytool'])\n"
              "open('/workspace/out.txt', 'w').write('x')\n"
              "try:\n    open('/no/such/file')\nexcept OSError:\n    pass\n"
              "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=2)\n"
              "except OSError:\n    pass\n")
    res = run_sandboxed(tmp_path, ["python3", "-c", script], col, trace=sink, runsc=binary)
    assert res.exit_code == 0
    assert sink.status().healthy and sink.status().lost == 0
    assert col.of("proc.trace_connected") == [{"wire_version": 1}]
    execs = col.of("proc.exec")
    cat = next(d for d in execs if d["argv"] == ["cat", "/etc/hostname"])
    py = next(d for d in execs if d["argv"][:2] == ["python3", "-c"])
    assert cat["exe"] == "/usr/bin/cat" and cat["cwd"] == "/workspace" and cat["uid"] == 1000
    # what ran: owner and mode from runsc's binary_info; the hash from the host side
    assert (cat["binary_mode"], cat["binary_uid"]) == ("0o100755", 0)
    assert cat["binary_sha256"] == hashlib.sha256(Path("/usr/bin/cat").read_bytes()).hexdigest()
    assert cat["binary_sha256_by"] == "host"
    mine = next(d for d in execs if d["exe"] == "/workspace/mytool")
    assert mine["binary_uid"] == 1000  # a binary the agent wrote itself
    assert mine["binary_sha256"] == hashlib.sha256(Path("/usr/bin/true").read_bytes()).hexdigest()
    assert cat["ppid"] == py["pid"]  # the parent link, from sentry/clone
    assert any(d["child_pid"] == cat["pid"] and d["pid"] == py["pid"] for d in col.of("proc.clone"))
    assert any(d["pid"] == cat["pid"] and d["exit_status"] == 0 for d in col.of("proc.exit"))
    opens = col.of("proc.open")
    assert any(d["path"] == "/workspace/out.txt" and d["write"] and d["pid"] == py["pid"] for d in opens)
    assert any(d["path"] == "/no/such/file" and d.get("missing") for d in opens)
    assert any(d["path"] == "/etc/hostname" and d["pid"] == cat["pid"] for d in opens)
    assert not any(d["path"].startswith("/usr/") and not d["write"] for d in opens)
    (conn,) = [d for d in col.of("proc.connect") if d["address"].get("port") == 9]
    assert conn["address"] == {"family": "inet", "host": "127.0.0.1", "port": 9}
    assert conn["pid"] == py["pid"] and conn["errno"] != 0
    # Replay: the tree built from the recorded events attributes the cat to its parents.
    tree = ProcTree()
    for source, kind, data in col.events:
        tree.feed(Event(seq=0, ts=0, source=source, kind=kind, data=data, prev="0" * 64, hash="0" * 64))
    assert tree.cmdline(cat["pid"]) == "cat /etc/hostname"
    assert [p.pid for p in tree.ancestry(cat["pid"])][:2] == [cat["pid"], py["pid"]]


def test_pod_init_config(short_dir: Path) -> None:
    sink = trace_sink(short_dir, retries=5)
    flags = sink.runsc_flags(short_dir / "pod.json")
    assert flags == ["--pod-init-config", str(short_dir / "pod.json")]
    import json
    cfg = json.loads((short_dir / "pod.json").read_text())["trace_session"]
    assert cfg["name"] == "Default"
    assert cfg["sinks"] == [{"name": "remote", "config": {"endpoint": str(short_dir / "trace.sock"),
                                                          "retries": 5, "backoff_max": "10ms"}}]
    points = {p["name"]: p for p in cfg["points"]}
    assert points["sentry/execve"]["optional_fields"] == ["binary_info"]
    assert {"syscall/connect/enter", "syscall/connect/exit", "syscall/openat/exit", "sentry/clone",
            "sentry/task_exit", "container/start"} <= set(points)
    assert all("credentials" in p["context_fields"] for p in cfg["points"])


def test_host_hash_stays_inside_the_mount(short_dir: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "tool").write_bytes(b"#!/bin/sh\n")
    (ws / "escape").symlink_to("/etc/hostname")
    sink = trace_sink(short_dir, hash_mounts={"/workspace": ws})
    assert sink._host_hash("/workspace/tool") == hashlib.sha256(b"#!/bin/sh\n").hexdigest()
    assert sink._host_hash("/workspace/escape") is None  # a symlink out of the workspace
    assert sink._host_hash("/workspace/../etc/hostname") is None and sink._host_hash("/opt/x") is None


class SlowLog(Collector):
    """A log that takes 10 ms per record (fdatasync under I/O load)."""

    def __call__(self, ev: EventData) -> None:
        if ev.KIND == "proc.exec":
            time.sleep(0.01)
        super().__call__(ev)


@pytest.mark.parametrize("drain_s,complete", [(60.0, True), (0.3, False)])
def test_backlog_at_exit_is_recorded_or_counted(short_dir: Path, drain_s: float, complete: bool) -> None:
    """runsc sends a burst and exits; the sink has read it all but not yet recorded it.
    stop() records the whole backlog, or (at its deadline) counts what is left as lost."""
    sink = trace_sink(short_dir, drain_timeout_s=drain_s)
    col = SlowLog()
    sink.start(col)
    s = _fake_runsc(sink.cfg.socket_path)
    n = 1100  # 11 s of recording: longer than any fixed join
    for i in range(n):
        s.send(tp.frame(tp.MSG_SENTRY_EXEC, _exec_msg(100 + i, ["step", str(i)])))
    s.close()  # the sandbox exited
    assert _wait(lambda: not sink._conns, 10)
    sink.stop()
    got = len(col.of("proc.exec"))
    lost = sum(d["count"] for d in col.of("monitor.events_lost") if "not decoded" in d["reason"])
    if complete:
        assert got == n and lost == 0
    else:
        assert got < n and got + lost == n
