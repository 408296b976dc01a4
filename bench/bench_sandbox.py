"""Native vs sandboxed: CPU-bound, 5,000 files, HTTPS 500 MB (relay+mitmdump vs mitmdump alone).

Run as root: `python bench/bench_sandbox.py [--mb 500]`. It re-executes itself
inside `unshare --net` (loopback only) so the servers it starts are private.
Times inside the sandbox are measured by the workload itself (start-up is shown
separately as "sandbox wall").
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox, SandboxConfig  # noqa: E402
from sandbox.testing import (  # noqa: E402
    LoopbackServer,
    in_private_netns,
    make_server_cert,
    reexec_in_netns,
    start_mitmdump,
)

CPU = "import time;t=time.perf_counter();s=0\nfor i in range(20_000_000): s+=i*i\nprint(time.perf_counter()-t)"
FILES = ("import os,time;t=time.perf_counter();d='{d}'\n"
         "for i in range(5000): open(f'{{d}}/f{{i}}','w').write('x')\n"
         "for i in range(5000): os.unlink(f'{{d}}/f{{i}}')\nprint(time.perf_counter()-t)")


def sandboxed(tmp: Path, argv: list[str], **cfg: object) -> tuple[str, float]:
    out: list[bytes] = []
    t = time.perf_counter()
    Sandbox(SandboxConfig(command=argv, workspace=tmp / "ws", **cfg),  # type: ignore[arg-type]
            lambda k, d: None, tmp / "state", output=lambda s, b: out.append(b),
            registry_dir=tmp / "reg").run()
    return b"".join(out).decode().strip(), time.perf_counter() - t


def native(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def main(mb: int, reps: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ptaudit-bench-"))
    (tmp / "ws").mkdir()
    (tmp / "conf").mkdir()
    py = "/usr/bin/python3"
    rows: list[tuple[str, float, float, str]] = []

    n = [float(native([py, "-c", CPU])) for _ in range(reps)]
    s = [sandboxed(tmp, [py, "-c", CPU]) for _ in range(reps)]
    rows.append(("CPU-bound loop (s)", median(n), median([float(x) for x, _ in s]),
                 f"sandbox wall {median([w for _, w in s]):.2f}s"))

    (tmp / "native").mkdir()
    n = [float(native([py, "-c", FILES.format(d=tmp / "native")])) for _ in range(reps)]
    s = [sandboxed(tmp, [py, "-c", FILES.format(d="/workspace")]) for _ in range(reps)]
    rows.append(("5,000 files create+delete (s)", median(n), median([float(x) for x, _ in s]),
                 "workspace bind mount"))

    mitm, port = start_mitmdump(tmp / "conf", "--set", "ssl_insecure=true")
    ca = tmp / "conf" / "mitmproxy-ca-cert.pem"
    srv = LoopbackServer(certfile=make_server_cert(tmp / "srv.pem"))
    url = f"https://127.0.0.1:{srv.port}/bytes/{mb * 1_000_000}"
    curl = ["curl", "-sS", url, "-o", "/dev/null", "-w", "%{speed_download}"]
    try:
        n = [float(native([*curl, "-x", f"http://127.0.0.1:{port}", "--cacert", str(ca)])) / 1e6
             for _ in range(reps)]
        s = [sandboxed(tmp, curl, proxy_target=f"127.0.0.1:{port}", proxy_ca=ca)
             for _ in range(reps)]
        rows.append((f"HTTPS {mb} MB via mitmdump (MB/s)", median(n),
                     median([float(x) / 1e6 for x, _ in s]), "sandbox: +forwarder+relay"))
    finally:
        mitm.terminate()
        mitm.wait(timeout=10)
        srv.close()

    print(f"\n{'benchmark':34} {'native':>9} {'sandbox':>9} {'ratio':>7}  note")
    for name, a, b, note in rows:
        print(f"{name:34} {a:9.2f} {b:9.2f} {b / a:6.2f}x  {note}")
    print(f"(median of {reps}; ratio = sandbox/native; for MB/s lower is slower)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    if not in_private_netns():
        raise SystemExit(reexec_in_netns([sys.executable, __file__, *sys.argv[1:]]))
    main(args.mb, args.reps)
