"""Hostile clients inside the sandbox: huge headers, malformed HTTP, endless bodies,
slowloris. Each is bounded in memory and time, recorded, and the proxy keeps serving."""

from __future__ import annotations

import socket
import threading
import time

import psutil
import pytest

from tests.net.support import Harness, session
from tests.simnet import SimNet


@pytest.fixture
def proxy(harness: Harness, simnet: SimNet):
    return harness.proxy(harness.config(simnet.world_hosts))


def _still_serving(p) -> None:
    t = time.monotonic()
    r = session(p).get("https://huggingface.co/api/models/Org/Base", timeout=10)
    assert r.status_code == 200 and time.monotonic() - t < 5


def test_huge_headers_are_refused_and_recorded(harness: Harness, proxy) -> None:
    r = session(proxy).get("https://huggingface.co/api/models/Org/Base", timeout=20,
                            headers={f"X-Pad-{i}": "y" * 1000 for i in range(200)})  # ~200 KB of headers
    assert r.status_code == 431 and "network.max_header_bytes" in r.text
    ev = harness.wait(lambda e: e.kind == "net.blocked" and e.data.get("rule") == "network.max_header_bytes")
    assert ev and ev[0].data["status"] == 431
    _still_serving(proxy)


def test_malformed_http_does_not_hurt_the_proxy(harness: Harness, proxy) -> None:
    for garbage in (b"\x16\x03\x01garbage-not-http\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\nHost: \x00\r\n\r\n",
                    b"POST http://huggingface.co/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as c:
            c.sendall(garbage)
            c.settimeout(10)
            try:
                reply = c.recv(4096)
            except (ConnectionResetError, TimeoutError):
                reply = b""
        assert not reply.startswith(b"HTTP/1.1 200"), garbage
    assert proxy.alive()
    _still_serving(proxy)


def test_endless_upload_streams_with_flat_memory(harness: Harness, proxy, paste: SimNet) -> None:
    """A chunked upload that never ends (here: 600 MB, then the client gives up) is streamed,
    hashed and capped, not buffered."""
    mitm = psutil.Process(proxy.pid)
    stop = threading.Event()
    peak = [mitm.memory_info().rss]

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], mitm.memory_info().rss)
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    chunk = b"z" * (1 << 20)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as c:
        c.sendall(b"POST http://pastebin.com/api/paste HTTP/1.1\r\nHost: pastebin.com\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(600):
                c.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the proxy may cut us off; what matters is what it held meanwhile
    stop.set()
    assert peak[0] < 300 << 20, f"mitmdump peaked at {peak[0] >> 20} MiB"
    # recorded: the aborted flow, with the body hashed as far as it went and only a prefix kept
    err = harness.wait(lambda e: e.kind == "net.error" and "pastebin.com" in str(e.data.get("url", "")), timeout=20)
    body = err[0].data["request_body"]
    assert body["size"] >= 100 << 20 and body["stored"] <= 64 << 20 and body["truncated"]
    # let the paste server finish with what reached it before the fixture resets it
    deadline = time.monotonic() + 15
    while not paste.services["pastebin.com"].requests and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proxy.alive()
    _still_serving(proxy)


def test_slowloris_does_not_starve_other_clients(harness: Harness, proxy) -> None:
    slow = []
    for _ in range(64):
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        c.sendall(b"GET http://huggingface.co/api/models/Org/Base HTTP/1.1\r\nHost: huggingface.co\r\nX-Slow: ")
        slow.append(c)
    try:
        for _ in range(3):
            for c in slow:
                c.sendall(b"a")
            _still_serving(proxy)
            time.sleep(0.2)
        rss = psutil.Process(proxy.pid).memory_info().rss
        assert rss < 300 << 20
    finally:
        for c in slow:
            c.close()
