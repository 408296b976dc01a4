"""Weights fingerprinting and key scanning throughput, each beside its baseline in one run.

    python bench/bench_weights.py                    # 1 GiB safetensors file, 200 MB of request text
    python bench/bench_weights.py --quick            # ~0.3 GB, 10 MB (also PTA_BENCH_GB / PTA_BENCH_MB)

1. Fingerprinting (detectors/fingerprint.py, per-tensor xxh3-128 over 1 MiB blocks, as
   ``ptaudit fingerprint`` and the file monitor run it) of a safetensors file of
   ``PTA_BENCH_GB`` GiB (bf16-shaped tensors of a 0.5B-parameter-like layout) against
   ``sha256sum`` of the same file. The page cache is warmed first and each is timed best
   of 3, so both measure hashing, not the disk. Also: the proxy's path (64 KiB chunks,
   as mitmproxy hands them over) and the same file fetched as 4 Range pieces out of order.
2. Key scanning (detectors/keyscan.py, Hyperscan) against the same cores with Python
   ``re`` (the fallback) on the same bytes: ``PTA_BENCH_MB`` of JSON request bodies, code
   and random hashes with a few provider keys in them. Also the whole decoded-views
   pipeline (detectors/views.py) on a 10 MB body, for scale.

Ratios are printed last: the goal is fingerprinting >= 1x sha256sum.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import _results  # noqa: E402
import numpy as np  # noqa: E402

from detectors.fingerprint import ResourceFingerprint, fingerprint_file  # noqa: E402
from detectors.keyscan import KeyScanner  # noqa: E402
from detectors.views import Budget, decode_views  # noqa: E402

QUICK = "--quick" in sys.argv
GB = float(os.environ.get("PTA_BENCH_GB", "0.1" if QUICK else "1"))
MB = float(os.environ.get("PTA_BENCH_MB", "10" if QUICK else "200"))


def best(fn, n: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Best wall time of ``n``; the CPU time (this process and its children) of that call
    is kept in ``CPU[fn]``: on a busy shared machine CPU time is the steadier comparison."""
    ts = []
    for _ in range(n):
        c0, t = _cpu(), time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t, _cpu() - c0))
    wall, cpu = min(ts)
    CPU[fn] = cpu
    return wall


CPU: dict[object, float] = {}


def _cpu() -> float:
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def make_safetensors(path: Path, size: int) -> None:
    """A real safetensors file of ~``size`` bytes: 24 layers of q/k/v/o/mlp tensors + embeddings."""
    from safetensors.numpy import save_file

    hidden, inter, vocab = 896, 4864, 151_936
    per_layer = (4 * hidden * hidden + 3 * hidden * inter + 2 * hidden) * 2
    layers = max(1, (size - vocab * hidden * 2) // per_layer)
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 65535, size=64 << 20, dtype=np.uint16)  # 128 MiB of random bf16-like bits

    def arr(shape: tuple[int, ...], k: int) -> np.ndarray:
        n = int(np.prod(shape))
        off = (k * 7919) % (pool.size - n) if n < pool.size else 0
        return np.resize(pool[off:off + n], shape).astype(np.uint16)

    tensors: dict[str, np.ndarray] = {"model.embed_tokens.weight": arr((vocab, hidden), 1)}
    k = 2
    for i in range(int(layers)):
        for name, shape in (("self_attn.q_proj", (hidden, hidden)), ("self_attn.k_proj", (hidden, hidden)),
                            ("self_attn.v_proj", (hidden, hidden)), ("self_attn.o_proj", (hidden, hidden)),
                            ("mlp.gate_proj", (inter, hidden)), ("mlp.up_proj", (inter, hidden)),
                            ("mlp.down_proj", (hidden, inter)), ("input_layernorm", (hidden,)),
                            ("post_attention_layernorm", (hidden,))):
            tensors[f"model.layers.{i}.{name}.weight"] = arr(shape, k)
            k += 1
    save_file(tensors, str(path))


def bench_fingerprint(tmp: Path) -> dict[str, float]:
    path = tmp / "model.safetensors"
    t = time.perf_counter()
    make_safetensors(path, int(GB * (1 << 30)))
    size = path.stat().st_size
    print(f"made {path.name}: {size / 1e6:.0f} MB in {time.perf_counter() - t:.1f}s")
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    sha = shutil.which("sha256sum")

    def sha256sum() -> None:
        subprocess.run([sha, str(path)], stdout=subprocess.DEVNULL, check=True)
    t_sha = best(sha256sum)
    c_sha = CPU[sha256sum]

    def py_sha() -> None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while b := fh.read(8 << 20):
                h.update(b)
    t_pysha = best(py_sha)
    def fp_file() -> None:
        fingerprint_file(path)
    t_fp = best(fp_file)
    r = fingerprint_file(path)
    assert r["complete"], r["notes"]
    data = path.read_bytes()

    def proxy_path() -> None:  # 64 KiB chunks, one piece
        fp = ResourceFingerprint()
        seg = fp.segment(0)
        view = memoryview(data)
        for i in range(0, len(view), 65536):
            seg.feed(view[i:i + 65536])
        seg.close()
        fp.finish()
    t_proxy = best(proxy_path)
    q = len(data) // 4
    pieces = [(2 * q, 3 * q), (3 * q, len(data)), (0, q), (q, 2 * q)]

    def ranges() -> None:
        fp = ResourceFingerprint(max_pending=len(data))
        view = memoryview(data)
        for a, b in pieces:
            seg = fp.segment(a)
            for i in range(a, b, 65536):
                seg.feed(view[i:min(b, i + 65536)])
            seg.close()
        fp.finish()
        assert fp.complete
    t_ranges = best(ranges, 2)
    mbs = size / 1e6
    rows = [("sha256sum (coreutils)", t_sha, c_sha), ("python hashlib.sha256 (OpenSSL)", t_pysha, CPU[py_sha]),
            ("fingerprint file (8 MiB reads)", t_fp, CPU[fp_file]),
            ("fingerprint, proxy path (64 KiB chunks)", t_proxy, CPU[proxy_path]),
            ("fingerprint, 4 Range pieces out of order", t_ranges, CPU[ranges])]
    title = f"fingerprinting {mbs:.0f} MB, {r['tensors_total']} tensors"
    print(f"\n{title:<44} {'wall s':>7} {'MB/s':>7} {'x sha256sum':>11} {'cpu s':>7} {'x (cpu)':>8}")
    for name, t, c in rows:
        print(f"{name:<44} {t:7.3f} {mbs / t:7.0f} {t_sha / t:11.2f} {c:7.3f} {c_sha / max(c, 1e-9):8.2f}")
    for name, t, c in rows[1:]:
        _results.record("weights", f"{name}, {mbs:.0f} MB (wall)", mbs / t, "MB/s", mbs / t_sha, "sha256sum",
                        goal=1.0 if name.startswith("fingerprint file") else None)
        _results.record("weights", f"{name}, {mbs:.0f} MB (CPU)", mbs / c, "MB/s of CPU", mbs / c_sha,
                        "sha256sum", goal=1.0 if name.startswith("fingerprint file") else None)
    return {"fingerprint_vs_sha256sum": t_sha / t_fp, "fingerprint_vs_sha256sum_cpu": c_sha / CPU[fp_file],
            "fingerprint_vs_openssl_sha256_cpu": CPU[py_sha] / CPU[fp_file],
            "proxy_path_vs_sha256sum": t_sha / t_proxy}


def corpus(size: int) -> bytes:
    rng = random.Random(1)
    al = string.ascii_letters + string.digits
    keys = ["sk-proj-" + "".join(rng.choice(al) for _ in range(58)) + "T3BlbkFJ" + "".join(rng.choice(al) for _ in range(58)),
            "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34)),
            "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))]
    words = open(json.__file__).read().split() + open(base64.__file__).read().split()
    parts, n, i = [], 0, 0
    while n < size:
        i += 1
        kind = i % 4
        if kind == 0:
            s = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": " ".join(rng.choices(words, k=60))}]})
        elif kind == 1:
            s = "\n".join(" ".join(rng.choices(words, k=12)) for _ in range(8))
        elif kind == 2:
            s = " ".join(hashlib.sha256(str(rng.random()).encode()).hexdigest() for _ in range(6)) + " " + \
                base64.b64encode(rng.randbytes(120)).decode()
        else:
            s = json.dumps({"id": str(rng.getrandbits(128)), "text": " ".join(rng.choices(words, k=30))})
        if i % 5000 == 0:
            s += json.dumps({"k": keys[(i // 5000) % 3]})
        parts.append(s)
        n += len(s) + 1
    return "\n".join(parts).encode()


def bench_keys() -> dict[str, float]:
    data = corpus(int(MB * 1e6))
    mbs = len(data) / 1e6
    hs, rx = KeyScanner(), KeyScanner(use_hyperscan=False)
    assert hs.engine == "hyperscan", "hyperscan is not installed"
    n_hs = len(hs.scan(data))
    n_rx = len(rx.scan(data))
    assert n_hs == n_rx and n_hs > 0, (n_hs, n_rx)
    def scan_hs() -> None:
        hs.scan(data)

    def scan_rx() -> None:
        rx.scan(data)
    t_hs = best(scan_hs)
    t_rx = best(scan_rx, 1)
    body = data[:10_000_000]
    t_views = best(lambda: [hs.scan(v.data) for v in decode_views(body, "body", Budget(1 << 30))], 1)
    title = f"key scan {mbs:.0f} MB, {n_hs} keys found"
    print(f"\n{title:<48} {'s':>7} {'MB/s':>8} {'x re':>12}")
    for name, t, m in (("Python re (same cores, the fallback)", t_rx, mbs), ("Hyperscan", t_hs, mbs),
                       ("decoded views + Hyperscan (10 MB body)", t_views, len(body) / 1e6)):
        print(f"{name:<48} {t:7.3f} {m / t:8.0f} {(m / t) / (mbs / t_rx):12.2f}")
    _results.record("weights", f"key-pattern scan, Hyperscan, {mbs:.0f} MB", mbs / t_hs, "MB/s", mbs / t_rx,
                    "Python re (same patterns)")
    _results.record("weights", "decoded views + Hyperscan, 10 MB body", len(body) / 1e6 / t_views, "MB/s",
                    mbs / t_rx, "Python re, raw bytes only", note="every view of the body: JSON, base64, hex, ...")
    return {"hyperscan_vs_re": t_rx / t_hs, "hyperscan_vs_re_cpu": CPU[scan_rx] / CPU[scan_hs]}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-weights-"))
    try:
        ratios = {**bench_fingerprint(tmp), **bench_keys()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nratios (same run): " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    _results.flush()


if __name__ == "__main__":
    main()
