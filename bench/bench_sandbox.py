"""Native vs sandboxed on systrap and ptrace, side by side in one run.

  CPU-bound loop; 5,000 files create+delete in /workspace; `python -c "import torch"` (torch
  from a read-only mount, thousands of small reads); pip installing the wheels of numpy,
  safetensors and tokenizers (17, repacked from this interpreter) through the proxy;
  HTTPS 500 MB through forwarder+relay+mitmdump vs mitmdump alone.

Goals (issue 14): files <= 1.5x native, import torch <= 2x native, HTTPS >= 0.8x mitmdump
alone. `--explain` adds rows that show where the time goes (runsc file-access and
directfs options, relay/forwarder buffer sizes are in the docs).

Run as root: `python bench/bench_sandbox.py [--mb 500] [--reps 3] [--explain] [--quick]`
(`make bench` runs it and collects its rows through bench/_results.py). It
re-executes itself inside `unshare --net` (loopback only). Times inside the sandbox are
measured by the workload itself (start-up excluded), except pip (whole command).
"""
from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_results.py

from sandbox import Sandbox, SandboxConfig  # noqa: E402
from sandbox.testing import (  # noqa: E402
    LoopbackServer,
    in_private_netns,
    make_server_cert,
    reexec_in_netns,
    start_mitmdump,
)

PY = "/usr/bin/python3"
CPU = "import time;t=time.perf_counter();s=0\nfor i in range(20_000_000): s+=i*i\nprint(time.perf_counter()-t)"
FILES = ("import os,time;t=time.perf_counter();d='{d}'\n"
         "for i in range(5000): open(f'{{d}}/f{{i}}','w').write('x')\n"
         "for i in range(5000): os.unlink(f'{{d}}/f{{i}}')\nprint(time.perf_counter()-t)")
TORCH = "import time;t=time.perf_counter();import torch;print(time.perf_counter()-t)"
PIP = ("import subprocess,sys,time;t=time.perf_counter();subprocess.run([sys.executable,'-m','pip','install','-q',"
       "'--no-cache-dir','--disable-pip-version-check','--target','{d}','--index-url','{index}',{extra}"
       "'numpy','safetensors','tokenizers'],check=True);print(time.perf_counter()-t)")


def _join_cgroup() -> str | None:
    """Move this process (and so every native run and sandbox it starts) into one CPU
    cgroup of its own. On a machine busy with other work, CPU is shared per runnable
    thread among the root cgroup's tasks: the sandbox's many sentry threads would get more
    of it than a one-thread native process. In one group, whichever runs gets the group's
    share. (runsc's own /ptaudit/<id> cgroups stay empty here: the sentry inherits ours.)"""
    base = Path("/sys/fs/cgroup/cpu")  # cgroup v1 (this machine kind); elsewhere: no grouping
    if not (base / "cgroup.procs").is_file():
        return None
    d = base / f"ptaudit-bench-{os.getpid()}"
    d.mkdir(exist_ok=True)
    (d / "cgroup.procs").write_text(str(os.getpid()))
    return str(d)


def _ratio(v: object, n: float) -> str:
    return f"{v / n:7.2f}x" if isinstance(v, float) else "       -"


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


class Bench:
    def __init__(self, tmp: Path, reps: int) -> None:
        self.tmp, self.reps = tmp, reps
        self.ws = tmp / "ws"
        self.ws.mkdir()

    def sandboxed(self, argv: list[str], platform: str, **cfg: object) -> float:
        out: list[bytes] = []
        err: list[bytes] = []
        res = Sandbox(SandboxConfig(command=argv, workspace=self.ws, platform=platform, **cfg),  # type: ignore[arg-type]
                      lambda k, d: None, self.tmp / "state",
                      output=lambda s, b: (out if s == "stdout" else err).append(b),
                      registry_dir=self.tmp / "reg").run()
        if res.exit_code != 0:
            raise RuntimeError(f"sandboxed {argv[:3]} failed: {b''.join(err).decode()[-800:]}")
        return float(b"".join(out).decode().split()[-1])

    def native(self, argv: list[str], env: dict[str, str | None] | None = None) -> float:
        full = {**os.environ, **(env or {})}
        p = subprocess.run(argv, capture_output=True, text=True, env={k: v for k, v in full.items() if v is not None})
        if p.returncode != 0:
            raise RuntimeError(f"native {argv[:3]} failed: {p.stderr[-800:]}")
        return float(p.stdout.split()[-1])

    def row(self, name: str, native_fn, sandbox_fn, platforms=("systrap", "ptrace"), unit="s") -> list[object]:  # type: ignore[no-untyped-def]
        # Interleaved (native, then each platform, per repetition) so that load from other
        # work on the machine drifts into every column alike.
        ns: list[float] = []
        vs: dict[str, list[float]] = {p: [] for p in platforms}
        for _ in range(self.reps):
            ns.append(native_fn())
            for p in platforms:
                vs[p].append(sandbox_fn(p))
        n, vals = median(ns), [median(vs[p]) for p in platforms]
        print(f"  {name}: native {n:.2f} {unit}, " + ", ".join(f"{p} {v:.2f}" for p, v in zip(platforms, vals, strict=True)),
              file=sys.stderr, flush=True)  # progress: rows as they complete
        return [name, unit, n, *vals]


def torch_env(tmp: Path) -> tuple[dict[str, Path], Path]:
    """The demo's torch mounts, and a host dir of symlinks to the same trees (native)."""
    from ptaudit.app.demo.train import torch_mounts

    mounts = torch_mounts()
    links = tmp / "torchsite"
    links.mkdir()
    for dest, src in mounts.items():
        (links / Path(dest).name).symlink_to(src)
    return mounts, links


def main(mb: int, reps: int, explain: bool) -> None:
    group = _join_cgroup()
    try:
        _main(mb, reps, explain)
    finally:
        if group is not None:
            (Path(group).parent / "cgroup.procs").write_text(str(os.getpid()))
            os.rmdir(group)


def _main(mb: int, reps: int, explain: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ptaudit-bench-"))
    (tmp / "conf").mkdir()
    b = Bench(tmp, reps)
    rows: list[list[object]] = []

    rows.append(b.row("CPU-bound loop", lambda: b.native([PY, "-c", CPU]),
                      lambda p: b.sandboxed([PY, "-c", CPU], p)))
    (tmp / "native").mkdir()
    rows.append(b.row("5,000 files create+delete", lambda: b.native([PY, "-c", FILES.format(d=tmp / "native")]),
                      lambda p: b.sandboxed([PY, "-c", FILES.format(d="/workspace")], p)))
    mounts, links = torch_env(tmp)
    b.native([PY, "-c", TORCH], {"PYTHONPATH": str(links)})  # warm the page cache
    rows.append(b.row("python -c 'import torch'", lambda: b.native([PY, "-c", TORCH], {"PYTHONPATH": str(links)}),
                      lambda p: b.sandboxed([PY, "-c", TORCH], p, ro_mounts=mounts,
                                            env={"PYTHONPATH": "/opt/torch"})))
    if explain:
        for flags, what in ((["--file-access-mounts=exclusive"], "files, mounts exclusive"),
                            (["--directfs=false"], "files, directfs off (gofer)"),
                            (["--overlay2=none"], "files, no root overlay")):
            rows.append(b.row(what, lambda: b.native([PY, "-c", FILES.format(d=tmp / "native")]),
                              lambda p, f=flags: b.sandboxed([PY, "-c", FILES.format(d="/workspace")], p,
                                                             runsc_flags=f), platforms=("systrap",)) + ["-"])
            rows.append(b.row(f"import torch, {what.split(', ')[1]}",
                              lambda: b.native([PY, "-c", TORCH], {"PYTHONPATH": str(links)}),
                              lambda p, f=flags: b.sandboxed([PY, "-c", TORCH], p, ro_mounts=mounts, runsc_flags=f,
                                                             env={"PYTHONPATH": "/opt/torch"}),
                              platforms=("systrap",)) + ["-"])

    mitm, port = start_mitmdump(tmp / "conf", "--set", "ssl_insecure=true")
    ca = tmp / "conf" / "mitmproxy-ca-cert.pem"
    cert = make_server_cert(tmp / "srv.pem")
    try:
        from tests.simnet.server import Service
        from tests.simnet.services import PyPI
        from tests.simnet.wheels import index_packages

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert)
        files = Service(lambda r: pypi.files_app(r), ctx)
        pypi = PyPI(index_packages(["numpy", "safetensors", "tokenizers"]), f"https://127.0.0.1:{files.port}")
        index = Service(pypi.index_app, ctx)
        files.start()
        index.start()
        url = f"https://127.0.0.1:{index.port}/simple"
        native_pip = PIP.format(d=tmp / "pip-native", index=url, extra="")
        inside_pip = PIP.format(d="/tmp/pip-target", index=url, extra="")

        # The sandbox sees no pip configuration; natively, this machine's (extra local
        # indexes, find-links, constraints) would make pip do other work: leave it out.
        # Natively, the same proxy and CA environment the sandbox gives the agent.
        bare: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PIP_")}
        bare["PIP_CONFIG_FILE"] = os.devnull
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            bare[var] = f"http://127.0.0.1:{port}"
        for var in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            bare[var] = str(ca)

        def pip_native() -> float:
            subprocess.run(["rm", "-rf", str(tmp / "pip-native")])
            return b.native([PY, "-c", native_pip], bare)
        rows.append(b.row(f"pip install {len(pypi.packages)} wheels via proxy", pip_native,
                          lambda p: b.sandboxed([PY, "-c", inside_pip], p, proxy_target=f"127.0.0.1:{port}",
                                                proxy_ca=ca)))

        srv = LoopbackServer(certfile=cert)
        big = f"https://127.0.0.1:{srv.port}/bytes/{mb * 1_000_000}"
        curl = ["curl", "-sS", big, "-o", "/dev/null", "-w", "%{speed_download}"]
        rows.append(b.row(f"HTTPS {mb} MB via mitmdump", lambda: b.native([*curl, "-x", f"http://127.0.0.1:{port}",
                                                                           "--cacert", str(ca)]) / 1e6,
                          lambda p: b.sandboxed(curl, p, proxy_target=f"127.0.0.1:{port}", proxy_ca=ca) / 1e6,
                          unit="MB/s"))
        srv.close()
        if explain:  # the same bytes without TLS at the client: the bridge alone vs the TLS client
            plain = LoopbackServer()
            pcurl = ["curl", "-sS", f"http://127.0.0.1:{plain.port}/bytes/{mb * 1_000_000}", "-o", "/dev/null",
                     "-w", "%{speed_download}"]
            rows.append(b.row(f"HTTP {mb} MB via mitmdump (no TLS)",
                              lambda: b.native([*pcurl, "-x", f"http://127.0.0.1:{port}"]) / 1e6,
                              lambda p: b.sandboxed(pcurl, p, proxy_target=f"127.0.0.1:{port}", proxy_ca=ca) / 1e6,
                              unit="MB/s"))
            plain.close()
        index.stop()
        files.stop()
    finally:
        mitm.terminate()
        mitm.wait(timeout=10)

    import _results

    goals = {"5,000 files create+delete": 1.5, "python -c 'import torch'": 2.0, f"HTTPS {mb} MB via mitmdump": 0.8}
    for name, unit, n, *vals in rows:  # type: ignore[misc]
        for plat, v in zip(("systrap", "ptrace"), vals, strict=False):
            if isinstance(v, float):
                _results.record("sandbox", f"{name} ({plat})", v, unit, baseline=n,
                                baseline_name="mitmdump alone" if unit == "MB/s" else "native",
                                better="higher" if unit == "MB/s" else "lower", goal=goals.get(str(name)))
    _results.flush()
    print(f"\n{'benchmark':38} {'unit':>5} {'native':>8} {'systrap':>8} {'ptrace':>8} {'sys/nat':>8} {'ptr/nat':>8}")
    for name, unit, n, s, pt in rows:  # type: ignore[misc]
        pts = f"{pt:8.2f}" if isinstance(pt, float) else "       -"
        print(f"{name:38} {unit:>5} {n:8.2f} {s:8.2f} {pts} {_ratio(s, n)} {_ratio(pt, n)}")
    print(f"(median of {reps}, interleaved; ratio = sandbox/native: for s lower is better, for MB/s higher is "
          f"better; runsc {__import__('sandbox.runsc', fromlist=['x']).version()}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--explain", action="store_true", help="also measure runsc filesystem options")
    ap.add_argument("--quick", action="store_true", help="one repetition, 100 MB (make bench --quick)")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.mb = 1, 100
    if not in_private_netns():
        raise SystemExit(reexec_in_netns([sys.executable, __file__, *sys.argv[1:]],
                                         env={"PYTHONPATH": str(ROOT)}))
    main(args.mb, args.reps, args.explain)
