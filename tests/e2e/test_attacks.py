"""The agent attacks the monitors from inside the sandbox (tests/faults/attack_agent.py):
many tiny files, a fork bomb up to the process limit, garbage on the relay socket and the
forwarder, a connection flood at the proxy, /proc probing, the host's loopback. None of it
hides activity, reaches the host or exposes the real API key; each shows in the report.

Scaled for CI: 3,000 files rather than a million (the watch already lags the agent by
seconds under ptrace: the property is the same, every file is accounted for, and what
the live watch could not read in time is a recorded loss), 150 flood connections held
open at once, a 512-process limit; ATTACK_FILES raises the file count for a long run. The fork bomb comes
last: runsc 2022 (ptrace) panics when the host pids limit stops it creating a stub thread
(the sandbox exits 2 with everything before it on record).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

from policies import shipped_path
from ptaudit.app import demo
from tests.e2e.conftest import DemoWorld
from tests.support import ROOT, run_ptaudit

KEY = "sk-ant-rel/iab+le=key_0123456789abcdefXYZ"
FILES = int(os.environ.get("ATTACK_FILES", "3000"))


def key_forms(key: str) -> list[bytes]:
    """How the key could appear: raw, URL-encoded, hex, and base64 at each alignment (the
    part of base64(prefix + key) that does not depend on what surrounds the key)."""
    raw = key.encode()
    forms = [raw, urllib.parse.quote(key, safe="").encode(), urllib.parse.quote_plus(key).encode(),
             binascii.hexlify(raw)]
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw + b"\0" * 3)
        forms.append(enc[(4 if k else 0): len(enc) - 8])
        forms.append(base64.urlsafe_b64encode(b"\0" * k + raw + b"\0" * 3)[(4 if k else 0): len(enc) - 8])
    return [f for f in forms if len(f) >= 16]


def leaks(data: bytes, forms: list[bytes]) -> list[bytes]:
    return [f for f in forms if f in data]


class Canary:
    """A loopback server in the test's namespace that counts whoever reaches it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            c.close()


def test_attacks_on_the_monitors(demo_world: DemoWorld, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(shipped_path("default").read_text().replace("max_processes = 4096", "max_processes = 512"))
    ws = tmp_path / "workspace"
    ws.mkdir()
    shutil.copy(ROOT / "tests" / "faults" / "attack_agent.py", ws / "attack_agent.py")
    canary = Canary()
    out = tmp_path / "run"
    args = [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(demo_world.task), "--policy",
            str(policy), "--workspace", str(ws), "--out", str(out), "--world", str(demo_world.world), "--",
            "/usr/bin/python3", "-u", "/workspace/attack_agent.py", str(FILES), "150", str(canary.port),
            demo.API_KEY_ENV]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, demo.API_KEY_ENV: KEY})
    why = p.stdout[-3000:] + p.stderr[-3000:]
    assert p.returncode in (0, 1, 3) and "Traceback" not in p.stderr, why
    assert (ws / "attack.json").exists(), why
    att = json.loads((ws / "attack.json").read_text())
    printed = [int(x.split()[-1]) for x in p.stderr.splitlines() if x.startswith("agent| forked ")]
    fork = json.loads((ws / "fork.json").read_text()) if (ws / "fork.json").exists() else \
        {"forked": max(printed, default=0), "errno": None}
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    v = run_ptaudit("verify", str(out))
    assert v.returncode in (0, 3), v.stdout  # intact whatever the agent did
    rep = json.loads(run_ptaudit("report", str(out), "--format", "json").stdout)
    lost = [e["data"] for e in events if e["kind"] == "monitor.events_lost"]
    # never a silent pass: a pass means nothing was lost
    assert rep["verdict"] != "pass" or (not rep["lossy"] and not lost), (rep["verdict"], lost)

    # every file is accounted for: the final scan reconciles whatever the live watch missed
    final = next(e["data"] for e in events if e["kind"] == "fs.final_summary")
    assert final["files"] >= FILES and rep["stats"]["files_written"] >= FILES, (final, rep["stats"])
    if final["overflows"]:
        assert any(x.get("producer") == "fs" for x in lost)  # an overflow is a recorded loss

    # the fork bomb hit the limit; each fork was seen, or the loss says so
    # The limit stops the bomb: the agent gets EAGAIN, or (runsc 2022 on ptrace) the sentry
    # panics when the host pids limit stops its stub threads and the sandbox exits 2.
    sb_exit = next(e["data"] for e in events if e["kind"] == "sandbox.exit")
    assert fork["forked"] >= 100 and (fork["errno"] == 11 or sb_exit["exit_code"] == 2), (fork, sb_exit)
    clones = kinds.count("proc.clone")
    assert clones >= fork["forked"] or any(x.get("producer") == "trace" for x in lost), clones

    # garbage on the relay and the forwarder: the proxy went on, and the flood did not stop it
    assert att["flood"]["after"] == 200 and att["flood"]["opened"] >= 140, att["flood"]
    assert att["api"] == 200  # the harness API still reachable through the proxy, key swapped in
    assert demo_world.net.anthropic.keys_seen and demo_world.net.anthropic.keys_seen[-1] == KEY
    assert att["garbage"]["relay"].startswith("HTTP/1.1 400") and att["garbage"]["forwarder"].startswith("HTTP/1.1 400")
    assert rep["stats"]["flows"] >= 3, rep["stats"]
    # Connections that never become a flow (garbage, half-open requests) are on record as the
    # sandbox's connect() calls (trace sink); the proxy itself records flows only.
    conns = [e["data"].get("address") or {} for e in events if e["kind"] == "proc.connect"]
    assert sum(1 for a in conns if a.get("port") == 3128) >= att["flood"]["opened"] + 1, len(conns)
    assert any(a.get("path") == "/run/ptaudit-proxy/proxy.sock" for a in conns), conns[:5]

    # /proc: only the sandbox's own processes; its probing is on record
    cmdlines = " ".join(att["proc"]["cmdlines"])
    assert not any(x in cmdlines for x in ("mitmdump", "ptaudit.app", "sandbox.warden", "runsc", "pytest")), cmdlines[:500]
    assert att["proc"]["pids"] <= 3, att["proc"]  # init, the agent (and a child): no host process
    opens = [e["data"].get("path", "") for e in events if e["kind"] == "proc.open"]
    assert any(o.startswith("/proc/") and o.endswith("/environ") for o in opens)

    # the host: not reached directly, not through the proxy
    assert canary.hits == 0 and "connected" not in att["host"]["direct"].values(), att["host"]
    assert att["host"]["via_proxy"] != 200 and att["host"]["via_proxy_localhost"] != 200, att["host"]

    # the real key: nowhere the agent could read, nowhere in the run directory, not in any output
    forms = key_forms(KEY)
    assert att["env_key"].startswith("sk-ptaudit-placeholder-")
    for root in (ws, out):
        for f in root.rglob("*"):
            if f.is_file():
                assert not leaks(f.read_bytes(), forms), f
    assert not leaks((p.stdout + p.stderr).encode(), forms)
