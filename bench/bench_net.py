"""Throughput and peak RSS of a large download: direct vs plain mitmdump vs mitmdump + ptaudit addons.

    python bench/bench_net.py [--size 2GiB] [--schemes http,https] [--key]      (env PTAUDIT_BENCH_SIZE too)

All in one run, same machine, loopback only (simnet serves the bytes). The addon runs in
world mode with a live recorder writing to a temp run directory, storing 64 MiB of each
body and hashing all of it. Goal: the addon costs <= 20% of plain mitmdump throughput, at flat memory.
``--key`` also configures a credential, so every response chunk is scanned for the real key
(redaction) as in a run with an LLM API key. "proxy CPU s" is the proxy process's user+sys
time during the download (all threads); the machine has to find it somewhere.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import _results  # noqa: E402

from monitors.net.config import AddonConfig, CredentialSpec, NetworkSpec  # noqa: E402
from monitors.netproxy import NetProxy, _listening, free_port  # noqa: E402
from ptaudit.core.recorder import Recorder  # noqa: E402
from ptaudit.core.runlog import RunLogWriter  # noqa: E402
from ptaudit.core.units import parse_size  # noqa: E402
from tests.simnet import SimNet  # noqa: E402


def download(url: str, proxy: str | None, verify: str | bool, pid: int | None) -> tuple[float, int, float]:
    """(MB/s, peak RSS bytes of pid, CPU seconds of pid) for one GET of ``url``."""
    peak, stop = [0], threading.Event()
    proc = psutil.Process(pid) if pid else None
    cpu0 = sum(proc.cpu_times()[:2]) if proc else 0.0

    def sample() -> None:
        p = psutil.Process(pid) if pid else None
        while p and not stop.is_set():
            try:
                peak[0] = max(peak[0], p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    s = requests.Session()
    s.trust_env = False
    if proxy:
        s.proxies = {"http": proxy, "https": proxy}
    got, t0 = 0, time.monotonic()
    with s.get(url, stream=True, verify=verify, timeout=120) as r:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            got += len(chunk)
    secs = time.monotonic() - t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0 if proc else 0.0
    stop.set()
    t.join()
    return got / secs / 1e6, peak[0], cpu


def plain_mitmdump(confdir: Path, ca: Path | None, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "mitmdump"), "--set", "listen_host=127.0.0.1", "--set", f"listen_port={port}",
           "--set", f"confdir={confdir}", "--set", "connection_strategy=lazy", "--set", "stream_large_bodies=1m",
           "--set", "flow_detail=0"]
    if ca:
        cmd += ["--set", f"ssl_verify_upstream_trusted_ca={ca}"]
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 30
    while not _listening(port):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("plain mitmdump did not start")
        time.sleep(0.05)
    return proc, port


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default=os.environ.get("PTAUDIT_BENCH_SIZE", "2GiB"))
    ap.add_argument("--schemes", default="http,https")
    ap.add_argument("--key", action="store_true", help="configure a credential: responses are scanned for the real key")
    ap.add_argument("--quick", action="store_true", help="256 MiB per transfer (make bench --quick)")
    args = ap.parse_args()
    size = parse_size("256MiB" if args.quick else args.size)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-net-") as tmp_s:
        tmp = Path(tmp_s)
        for scheme in args.schemes.split(","):
            net = SimNet(tls=scheme == "https", certdir=tmp / f"ca-{scheme}").start()
            upstream_ca = net.ca_path
            direct_url = f"{net.services['cdn-lfs.huggingface.co'].url}/bytes/{size}"
            public_url = f"{scheme}://cdn-lfs.huggingface.co/bytes/{size}"
            confdir = tmp / "conf"
            results: dict[str, tuple[float, int, float]] = {}
            results["direct"] = download(direct_url, None, str(upstream_ca) if upstream_ca else False, None)
            proc, port = plain_mitmdump(confdir, upstream_ca, tmp / "plain.log")
            try:
                # plain mitmdump has no world: aim it at the local server itself
                results["mitmdump"] = download(direct_url, f"http://127.0.0.1:{port}", str(confdir / "mitmproxy-ca-cert.pem"),
                                               proc.pid)
            finally:
                proc.terminate()
                proc.wait(10)
            run = tmp / f"run-{scheme}"
            (run / "blobs").mkdir(parents=True)
            log = RunLogWriter(run / "events.jsonl")
            rec = Recorder(log, tmp / f"rec-{scheme}.sock")
            rec.start()
            creds = [CredentialSpec(api_host="api.openai.com", placeholder="ptaudit-bench-placeholder",
                                    key_env="PTAUDIT_BENCH_KEY")] if args.key else []
            cfg = AddonConfig(recorder_socket=str(tmp / f"rec-{scheme}.sock"), blob_dir=str(run / "blobs"),
                              network=NetworkSpec(default="allow"), world=net.world_hosts, credentials=creds)
            proxy = NetProxy(cfg, run / "net", confdir, upstream_ca=upstream_ca,
                             env=dict(os.environ, PTAUDIT_BENCH_KEY="sk-bench-" + "5e1f" * 10)).start()
            try:
                results["mitmdump+addon"] = download(public_url, proxy.url, str(proxy.ca_cert_path), proxy.pid)
            finally:
                proxy.stop()
                rec.stop()
                log.close()
                net.stop()
            base = results["mitmdump"][0]
            for name, (mbps, rss, cpu) in results.items():
                rows.append((scheme, name, mbps, mbps / base, rss, cpu))
    print(f"\n{size / (1 << 30):.2f} GiB download, {os.cpu_count()} CPUs{', key redaction on' if args.key else ''}")
    print(f"{'scheme':6} {'path':15} {'MB/s':>8} {'vs mitmdump':>12} {'peak RSS MiB':>13} {'proxy CPU s':>12}")
    for scheme, name, mbps, ratio, rss, cpu in rows:
        print(f"{scheme:6} {name:15} {mbps:8.0f} {ratio:11.2f}x {(str(rss >> 20) if rss else '-'):>13}"
              f" {(f'{cpu:.2f}' if rss else '-'):>12}")
    by = {(s, n): (mbps, rss) for s, n, mbps, _, rss, _ in rows}
    for scheme in args.schemes.split(","):
        (addon, addon_rss), (plain, plain_rss) = by[(scheme, "mitmdump+addon")], by[(scheme, "mitmdump")]
        _results.record("net", f"{scheme} download through the addon", addon, "MB/s", plain, "plain mitmdump",
                        goal=0.8)
        if addon_rss and plain_rss:
            _results.record("net", f"{scheme} proxy peak RSS", addon_rss / 2**20, "MiB", plain_rss / 2**20,
                            "plain mitmdump", better="lower")
    _results.flush()


if __name__ == "__main__":
    main()
