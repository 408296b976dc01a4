"""Egress scenario, run inside a private net namespace (`unshare --net`, only lo).

A host HTTP server and a plain mitmdump listen on loopback; the agent tries
three ways out: via the proxy (must work), curl --noproxy and a raw socket
(both must fail, and the host server must see only the proxied request).
Writes a JSON summary to argv[1].

Why a separate process: the test process must stay in the real namespace
(other tests), and runsc works inside a fresh `unshare --net` namespace.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sandbox import Sandbox, SandboxConfig
from sandbox.testing import LoopbackServer, in_private_netns, start_mitmdump

AGENT = r"""
curl -sS --max-time 20 http://127.0.0.1:{port}/via-proxy && echo PROXY_OK
curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:{port}/direct-noproxy 2>&1 && echo NOPROXY_OK || echo NOPROXY_FAIL
python3 - <<'PY'
import socket
try:
    s = socket.create_connection(("127.0.0.1", {port}), timeout=5)
    s.sendall(b"GET /direct-raw HTTP/1.0\r\n\r\n")
    print("RAW_OK", s.recv(100))
except OSError as e:
    print("RAW_FAIL", e)
PY
getent hosts example.com && echo DNS_OK || echo DNS_FAIL
"""


def main(out: Path) -> None:
    assert in_private_netns(), "run me through sandbox.testing.reexec_in_netns"
    tmp = Path(tempfile.mkdtemp(prefix="ptaudit-egress-"))
    (tmp / "ws").mkdir()
    (tmp / "conf").mkdir()
    server = LoopbackServer()
    mitm, mport = start_mitmdump(tmp / "conf")
    events: list[tuple[str, dict[str, object]]] = []
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    try:
        cfg = SandboxConfig(command=["bash", "-c", AGENT.format(port=server.port)],
                            workspace=tmp / "ws", proxy_target=f"127.0.0.1:{mport}",
                            proxy_ca=tmp / "conf" / "mitmproxy-ca-cert.pem", time_limit_s=90)
        sb = Sandbox(cfg, lambda k, d: events.append((k, d)), tmp / "state",
                     output=lambda s, b: chunks[s].append(b), registry_dir=tmp / "registry")
        result = sb.run()
    finally:
        mitm.terminate()
        mitm.wait(timeout=10)
        server.close()
    out.write_text(json.dumps({
        "exit_code": result.exit_code, "hits": server.hits, "events": events,
        "stdout": b"".join(chunks["stdout"]).decode(errors="replace"),
        "stderr": b"".join(chunks["stderr"]).decode(errors="replace"),
    }, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
