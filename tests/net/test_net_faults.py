"""Fail closed: a failure in any hook of any addon kills what the hook was about (the client
gets no upstream bytes) and is recorded as ``monitor.fault``. Faults are injected through
``PTAUDIT_NET_FAULT`` (monitors/net/guard.py FaultPlan) into a real mitmdump; one proxy
serves every flow case, each case picked out by a marker in its URL, SNI or upstream."""

from __future__ import annotations

import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support import Harness, session
from wsecho import WsEcho, ws_exchange

from monitors.net import guard
from monitors.netproxy import ADDON, NetProxy, _listening, free_port
from ptaudit.core.events import strict_check
from tests.simnet import SimNet
from tests.simnet.server import Req, Resp, Service

CONTENT = b"UPSTREAM-CONTENT"


def origin_app(req: Req) -> Resp:
    if req.path.startswith("/big/"):  # /big/<n>/...: n bytes, streamed by the proxy (> 1 MiB)
        n = int(req.path.split("/")[2])
        return Resp(200, (CONTENT * 4096 for _ in range(n // (len(CONTENT) * 4096))), length=n,
                    headers={"Content-Type": "application/octet-stream"})
    return Resp(200, CONTENT + b" " + req.path.encode(), {"Content-Type": "text/plain"})


@dataclass(frozen=True)
class Case:
    marker: str
    target: str  # monitor:where
    kind: str  # how the client triggers it
    action: str  # expected monitor.fault action

    @property
    def monitor(self) -> str:
        return self.target.split(":")[0]

    @property
    def where(self) -> str:
        return self.target.split(":")[1]


CASES = [Case(f"fxc{i:02d}", t, k, a) for i, (t, k, a) in enumerate([
    ("net.runtime:http_connect", "connect", "killed"),
    ("net.gate:http_connect", "connect", "killed"),
    ("net.record:http_connect", "connect", "killed"),
    ("net.runtime:requestheaders", "get", "killed"),
    ("net.gate:requestheaders", "get", "killed"),
    ("net.credentials:requestheaders", "get", "killed"),
    ("net.record:requestheaders", "get", "killed"),
    ("net.runtime:request", "get", "killed"),
    ("net.runtime:responseheaders", "get", "killed"),
    ("net.gate:responseheaders", "get", "killed"),
    ("net.credentials:responseheaders", "get", "killed"),
    ("net.record:responseheaders", "get", "killed"),
    ("net.runtime:response", "get", "killed"),
    ("net.gate:response", "get", "killed"),
    ("net.record:response", "get", "killed"),
    ("net.record:error", "dead", "ended"),
    ("net.credentials:request_body", "post", "killed"),  # buffered body
    ("net.record:request_body", "post", "killed"),
    ("net.credentials:request_body", "upload", "killed"),  # streamed body
    ("net.record:request_body", "upload", "killed"),
    ("net.gate:response_body", "get", "killed"),  # buffered body
    ("net.credentials:response_body", "get", "killed"),
    ("net.record:response_body", "get", "killed"),
    ("net.gate:response_body", "big", "killed"),  # streamed body
    ("net.credentials:response_body", "big", "killed"),
    ("net.record:response_body", "big", "killed"),
    ("net.pinning:server_connect", "pin", "refused"),
    ("net.record:tls_failed_client", "tls_client", "ended"),
    ("net.record:tls_failed_server", "tls_server", "ended"),
    ("net.record:websocket_start", "ws", "dropped"),
    ("net.credentials:websocket_message", "ws", "dropped"),
    ("net.record:websocket_message", "ws", "dropped"),
    ("net.record:websocket_end", "ws_end", "ended"),
], start=1)]


@dataclass
class Rig:
    harness: Harness
    proxy: NetProxy
    origin: Service
    pin: Service
    ws: WsEcho


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, confdir: Path, simnet_tls: SimNet) -> Iterator[Rig]:
    origin, pin, ws = Service(origin_app), Service(origin_app), WsEcho()
    origin.start()
    pin.start()
    untrusted = simnet_tls.services["huggingface.co"]  # the proxy is not given its CA: upstream TLS fails
    world = {"origin.test": origin.url, "pin.test": pin.url, "dead.test": f"http://127.0.0.1:{free_port()}",
             "ws.test": ws.url, "fxc29.test": untrusted.url}
    # connection hooks have no URL: pick them out by upstream address
    subject = {"pin": f"127.0.0.1:{pin.port}", "tls_server": f"127.0.0.1:{untrusted.port}"}
    plan = [f"{c.target}@{subject.get(c.kind, c.marker)}" for c in CASES]
    h = Harness(tmp_path_factory.mktemp("faults"), confdir)
    try:
        proxy = h.proxy(h.config(world, allow=["*.test"]), env={"PTAUDIT_NET_FAULT": ",".join(plan)})
        yield Rig(h, proxy, origin, pin, ws)
    finally:
        h.close()
        origin.stop()
        pin.stop()
        ws.stop()


def fetch(s: requests.Session, method: str, url: str, **kw: object) -> tuple[int | None, bytes]:
    """(status or None, body bytes received) — whatever arrived before any error."""
    status, got = None, bytearray()
    try:
        with s.request(method, url, stream=True, timeout=15, **kw) as r:  # type: ignore[arg-type]
            status = r.status_code
            for chunk in r.iter_content(65536):
                got += chunk
    except requests.RequestException:
        pass
    return status, bytes(got)


def reached(svc: Service, marker: str) -> list[Req]:
    return [r for r in svc.requests if marker in r.path]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.target}-{c.kind}")
def test_fault_in_hook_fails_closed(rig: Rig, case: Case) -> None:
    s, m = session(rig.proxy), case.marker
    if case.kind == "connect":
        status, got = fetch(s, "GET", f"https://{m}.test/")
        assert status is None and got == b""  # the CONNECT itself was killed
    elif case.kind in ("get", "post", "upload", "big", "dead"):
        host = "dead.test" if case.kind == "dead" else "origin.test"
        path = f"/big/{3 << 20}/{m}" if case.kind == "big" else f"/{case.kind}/{m}"
        body = {"post": b"x" * 1000,  # chunked: streamed through the proxy chunk by chunk
                "upload": (b"y" * 65536 for _ in range(4))}.get(case.kind)
        status, got = fetch(s, "POST" if body is not None else "GET", f"http://{host}{path}", data=body)
        assert CONTENT not in got and (case.kind != "big" or got == b"")
        if case.kind == "dead":
            assert status == 502
        elif case.kind == "upload":  # the upstream saw the request start, but nothing of the body
            assert status in (None, 502) and all(r.body == b"" for r in reached(rig.origin, m))
        elif case.where in ("http_connect", "requestheaders", "request", "request_body"):
            assert status is None and reached(rig.origin, m) == []  # never left the proxy
    elif case.kind == "pin":
        status, got = fetch(s, "GET", "http://pin.test/x")
        assert status == 502 and CONTENT not in got and rig.pin.requests == []
    elif case.kind == "tls_client":
        with pytest.raises(requests.exceptions.SSLError):
            requests.Session().get(f"https://{m}.test/", proxies={"https": rig.proxy.url}, timeout=15)
    elif case.kind == "tls_server":
        status, got = fetch(s, "GET", f"https://{m}.test/api/models/Org/Base")
        assert status == 502 and b"Org/Base" not in got
    else:  # websockets
        replies = ws_exchange(rig.proxy.port, "ws.test", f"/chat/{m}", f"hello {m}")
        if case.kind == "ws":
            assert replies == [] and f"hello {m}" not in rig.ws.received  # dropped, both ways
        else:
            assert replies == [f"echo:hello {m}"]  # the fault came after: recorded only

    def mine(e: object) -> bool:
        d = e.data  # type: ignore[attr-defined]
        return (e.kind == "monitor.fault" and d["monitor"] == case.monitor  # type: ignore[attr-defined]
                and d["where"] == case.where and (case.kind in ("pin", "tls_client", "tls_server")
                                                  or m in d.get("url", "")))
    ev = rig.harness.wait(mine)[0].data
    assert ev["action"] == case.action and "InjectedFault" in ev["error"]
    assert ("flow" in ev) == (case.kind not in ("pin", "tls_client", "tls_server"))


def test_proxy_keeps_serving_and_every_fault_is_recorded_once(rig: Rig) -> None:
    status, got = fetch(session(rig.proxy), "GET", "http://origin.test/healthy")
    assert status == 200 and got.startswith(CONTENT)
    events = rig.harness.events()
    faults = [(e.data["monitor"], e.data["where"]) for e in events if e.kind == "monitor.fault"]
    assert sorted(faults) == sorted((c.monitor, c.where) for c in CASES)
    assert [p for e in events for p in strict_check(e.kind, e.data)] == []


@pytest.mark.parametrize("target", ["net.runtime:load", "net.runtime:configure", "net.gate:configure",
                                    "net.pinning:configure", "net.credentials:configure", "net.record:running"])
def test_fault_at_start_stops_mitmdump(harness: Harness, target: str) -> None:
    with pytest.raises(RuntimeError, match="exited") as err:
        harness.proxy(harness.config(None), env={"PTAUDIT_NET_FAULT": target}, start_timeout=20)
    assert f"injected fault in {target}" in str(err.value)
    if target not in ("net.runtime:load", "net.runtime:configure"):  # before those, nowhere to record
        ev = harness.wait(lambda e: e.kind == "monitor.fault")[0].data
        assert (ev["monitor"], ev["where"], ev["action"]) == (*target.split(":"), "shutdown")


def test_fault_at_done_is_recorded(harness: Harness) -> None:
    p = harness.proxy(harness.config(None), env={"PTAUDIT_NET_FAULT": "net.record:done"})
    p.stop()
    ev = harness.wait(lambda e: e.kind == "monitor.fault")[0].data
    assert (ev["where"], ev["action"]) == ("done", "ended")


BOOM = """
class Boom:
    def requestheaders(self, flow):
        raise RuntimeError("boom")

addons = [Boom()]
"""


def test_mitmproxy_alone_fails_open(tmp_path: Path, confdir: Path) -> None:
    """Why the guard exists: an unguarded addon's exception is logged and the flow goes on."""
    origin = Service(origin_app)
    origin.start()
    (tmp_path / "boom.py").write_text(BOOM)
    port = free_port()
    log = tmp_path / "mitmdump.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "mitmdump"), "-s", str(tmp_path / "boom.py"),
                                 "--set", "listen_host=127.0.0.1", "--set", f"listen_port={port}",
                                 "--set", f"confdir={confdir}"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        s = requests.Session()
        s.trust_env, s.proxies = False, {"http": f"http://127.0.0.1:{port}"}
        r = s.get(f"{origin.url}/through", timeout=10)
        assert r.status_code == 200 and r.content.startswith(CONTENT)  # passed despite the error
        assert "boom" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(10)
        origin.stop()


def test_every_hook_of_every_addon_is_guarded() -> None:
    import mitmproxy.addonmanager  # noqa: F401 - registers the hooks (load here)
    import mitmproxy.proxy.layers  # noqa: F401
    import mitmproxy.proxy.server_hooks  # noqa: F401
    from mitmproxy.hooks import all_hooks

    assert guard.HOOKS <= set(all_hooks)  # the guard's table names real hooks only
    addons = runpy.run_path(str(ADDON))["addons"]
    seen = set()
    for addon in addons:
        for name in all_hooks:
            fn = getattr(type(addon), name, None)
            if callable(fn):
                seen.add(name)
                assert getattr(fn, "ptaudit_guarded", False), f"{type(addon).__name__}.{name} is not guarded"
    assert {"requestheaders", "response", "server_connect", "done"} <= seen

    def requestheader(self: object, flow: object) -> None:  # misspelt: mitmproxy would never call it
        pass
    with pytest.raises(TypeError, match="requestheader"):
        guard.hook(requestheader)


def test_fault_plan_is_strict() -> None:
    assert guard.FaultPlan("").rules == []
    assert guard.FaultPlan("net.gate:requestheaders@/x, net.record:response_body").rules == [
        ("net.gate", "requestheaders", "/x"), ("net.record", "response_body", "")]
    for bad in ("gate", "net.gate:nohook", ":request"):
        with pytest.raises(ValueError, match="PTAUDIT_NET_FAULT"):
            guard.FaultPlan(bad)
