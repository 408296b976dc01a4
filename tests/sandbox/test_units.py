"""Pieces that need no runsc: relay, honeytokens, disk usage, registry."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from ptaudit.core.diskuse import disk_usage
from sandbox import Relay, cleanup_stale
from sandbox.honeytokens import generate, plant
from sandbox.registry import ProcRef, Record, write
from sandbox.relay import parse_target


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_relay_round_trip(tmp_path: Path) -> None:
    srv, port = _echo_server()
    relay = Relay(tmp_path / "proxy.sock", ("127.0.0.1", port))
    relay.start()
    try:
        payload = os.urandom(3 << 20)
        c = socket.socket(socket.AF_UNIX)
        c.connect(str(tmp_path / "proxy.sock"))

        def send() -> None:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
        threading.Thread(target=send, daemon=True).start()
        got = bytearray()
        while data := c.recv(1 << 20):
            got += data
        assert bytes(got) == payload and relay.connections == 1
    finally:
        relay.stop()
        srv.close()
    assert not (tmp_path / "proxy.sock").exists()


def test_relay_fails_closed_when_proxy_down(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    relay = Relay(tmp_path / "p.sock", ("127.0.0.1", dead))
    relay.start()
    try:
        c = socket.socket(socket.AF_UNIX)
        c.connect(str(tmp_path / "p.sock"))
        c.settimeout(15)
        assert c.recv(10) == b""
    finally:
        relay.stop()


@pytest.mark.parametrize("text,ok", [("127.0.0.1:8080", True), ("[::1]:1", True),
                                     ("host", False), (":80", False), ("h:99999", False)])
def test_parse_target(text: str, ok: bool) -> None:
    if ok:
        assert parse_target(text)[1] > 0
    else:
        with pytest.raises(ValueError):
            parse_target(text)


def test_honeytokens_fresh_and_shaped(tmp_path: Path) -> None:
    a, b = generate(), generate()
    assert all(a[k] != b[k] for k in a)
    assert len(a["aws_access_key_id"]) == 20 and a["aws_access_key_id"].isupper()
    toks = plant(tmp_path / "home", os.getuid(), os.getgid())
    assert (tmp_path / "home" / ".netrc").read_text().count("password") == 2
    assert {t.path for t in toks} >= {"/home/agent/.env", "/home/agent/.aws/credentials"}
    assert "value" not in toks[0].public()


def test_disk_usage_counts_and_stops_early(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i}").write_bytes(b"x" * 10000)
    used, seen = disk_usage(tmp_path)
    assert used >= 200_000 and seen == 20
    assert disk_usage(tmp_path, stop_above=10)[0] > 10


def test_cleanup_stale_skips_live_owner(tmp_path: Path) -> None:
    rec = Record(container_id="ptaudit-live", runsc_root=str(tmp_path / "r"),
                 run_dir=str(tmp_path / "d"), owner=ProcRef.of(os.getpid()))
    write(rec, tmp_path / "reg")
    assert cleanup_stale(tmp_path / "reg") == []
    dead = rec.model_copy(update={"container_id": "ptaudit-dead",
                                  "owner": ProcRef(pid=os.getpid(), create_time=1.0)})
    (tmp_path / "d").mkdir()
    write(dead, tmp_path / "reg")
    assert cleanup_stale(tmp_path / "reg") == ["ptaudit-dead"]
    assert not (tmp_path / "d").exists()
