"""The sandbox's only way out is the audit proxy (issue: sandbox), checked with the real
proxy and a world: HTTPS to a world host works with the mitmproxy CA, the proxy refuses a
host loopback port, and clients that ignore the proxy get no route at all."""

from __future__ import annotations

import json
from pathlib import Path

from ptaudit.core.runlog import read_events
from tests.e2e.conftest import DemoWorld

SCRIPT = r"""
out=/workspace/results
curl -sS -o /dev/null -w '%{{http_code}}' https://huggingface.co/api/models/{base} > $out.world 2>&1
curl -sS -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/ > $out.loopback 2>&1
curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:{port}/ > $out.noproxy 2>&1; echo " rc=$?" >> $out.noproxy
/usr/bin/python3 -c "
import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')
except OSError as e:
    print('failed', e)" > $out.raw
"""


def test_only_way_out_is_the_proxy(demo_world: DemoWorld, tmp_path: Path) -> None:
    hub = demo_world.net.services["huggingface.co"]
    port = int(hub.url.rsplit(":", 1)[1])
    before = len(hub.requests)
    script = SCRIPT.format(base="ptaudit-demo/tiny-base", port=port)
    p, run = demo_world.run(tmp_path, "sh", "-c", script)
    ws = tmp_path / "workspace"
    assert (ws / "results.world").read_text() == "200", p.stderr
    # refused by the proxy, not forwarded: with a world, 127.0.0.1 is simply not in it (502);
    # without one it is a private address (403, tests/net covers that case)
    assert (ws / "results.loopback").read_text() == "502"
    assert "rc=0" not in (ws / "results.noproxy").read_text()
    assert (ws / "results.raw").read_text().startswith("failed")
    # the hub server saw exactly the one proxied request, nothing direct
    assert [r.path for r in hub.requests[before:]] == ["/api/models/ptaudit-demo/tiny-base"]
    events = list(read_events(run / "events.jsonl"))
    blocked = [e for e in events if e.kind == "net.blocked"]
    assert any(e.data.get("rule") == "world.unmapped" and "127.0.0.1" in str(e.data.get("url", ""))
               for e in blocked), [e.data for e in blocked]
    # the direct attempts show up in the trace, by command (non-blocking connects report
    # EINPROGRESS; that they failed is what the result files above show)
    connects = [e.data for e in events if e.kind == "proc.connect"
                and e.data.get("address", {}).get("port") == port]
    assert {c["comm"] for c in connects} >= {"curl", "python3"}, json.dumps(connects)[:2000]
    assert all(c.get("errno") or c.get("result") for c in connects)
