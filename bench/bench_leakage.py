"""Leakage scan throughput against a naive hashed 13-gram scanner and ``grep -F -f``;
replay speed of a long run.

    python bench/bench_leakage.py                  # ~200 MB per format, 1M-event replay
    PTA_BENCH_MB=20 PTA_BENCH_EVENTS=100000 python bench/bench_leakage.py   # quick

Data: a 1,300-item synthetic GSM8K-like test set; the scanned corpus is independent math
word problems in the same style and vocabulary (the hard case for a prefilter) with 0.1%
of rows copied from the test set, as JSONL and as Parquet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "detectors")]

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from gsm_synth import make_split  # noqa: E402

from detectors.leak_index import LeakIndex  # noqa: E402
from detectors.leak_scan import Scanner  # noqa: E402
from detectors.testset import TestItem  # noqa: E402

MB = int(os.environ.get("PTA_BENCH_MB", "200"))
EVENTS = int(os.environ.get("PTA_BENCH_EVENTS", "1000000"))


def corpus(test: list[dict[str, str]], mb: int) -> list[dict[str, str]]:
    base = make_split(20000, seed=99)
    for i in range(0, len(base), 1000):
        base[i] = dict(test[i // 1000 % len(test)], id=f"copy{i}")
    rows: list[dict[str, str]] = []
    size = 0
    while size < mb << 20:
        rows.extend(base)
        size += sum(len(r["question"]) + len(r["answer"]) + 40 for r in base)
    return rows


def naive_scan(data: bytes, test: list[dict[str, str]]) -> int:
    grams = set()
    for r in test:
        toks = re.findall(r"\w+", (r["question"] + " " + r["answer"]).lower())
        grams.update(hash(tuple(toks[i:i + 13])) for i in range(len(toks) - 12))
    hits = 0
    for line in data.splitlines():
        toks = re.findall(r"\w+", line.decode("utf-8", "replace").lower())
        hits += sum(hash(tuple(toks[i:i + 13])) in grams for i in range(len(toks) - 12))
    return hits


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    test = make_split(1300, seed=7)
    items = [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test]
    t_index, idx = timed(lambda: LeakIndex(items))
    scanner = Scanner({"gsm8k": idx})  # type: ignore[dict-item]
    rows = corpus(test, MB)
    tmp = Path(tempfile.mkdtemp(prefix="bench-leak-"))
    jl = tmp / "corpus.jsonl"
    jl.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    pqf = tmp / "corpus.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pqf)
    pat = tmp / "patterns.txt"
    pat.write_text("".join(json.dumps(r["question"])[1:-1] + "\n" for r in test))
    size_jl, size_pq = jl.stat().st_size, pqf.stat().st_size
    print(f"index: {len(test)} items, {len(idx)} anchors, {idx.stop_anchors} stop anchors, {t_index:.2f} s")

    table = []
    for label, path, size in (("JSONL", jl, size_jl), ("Parquet", pqf, size_pq)):
        def ours(path: Path = path) -> int:
            with open(path, "rb") as fh:
                return len(scanner.scan(fh, path.name).hits.get("gsm8k", {}))
        t, hits = timed(ours)
        table.append((f"ptaudit leakage, {label}", size, t, f"{hits} items"))
    sample = jl.read_bytes()[: min(size_jl, 40 << 20)]  # the naive scanner is slow: time a sample
    t, hits = timed(lambda: naive_scan(sample, test))
    table.append(("naive hashed 13-gram, JSONL", len(sample), t, f"{hits} 13-gram hits"))
    t, out = timed(lambda: subprocess.run(["grep", "-F", "-c", "-f", str(pat), str(jl)],
                                          capture_output=True, text=True).stdout.strip())
    table.append(("grep -F -f (questions), JSONL", size_jl, t, f"{out} lines"))

    naive_mbs = table[2][1] / table[2][2] / 1e6
    print(f"\n{'scanner':34} {'MB':>8} {'s':>8} {'MB/s':>8} {'x naive':>8}  result")
    for name, size, t, res in table:
        mbs = size / t / 1e6
        print(f"{name:34} {size / 1e6:8.1f} {t:8.2f} {mbs:8.1f} {mbs / naive_mbs:8.1f}  {res}")
    replay_bench(tmp)


def replay_bench(tmp: Path) -> None:
    from detectors.engine import replay
    from policies.schema import Policy
    from ptaudit.rundir import RunDir
    from ptaudit.runlog import RunLogWriter

    rd = RunDir.create(tmp / "run")
    log = RunLogWriter(rd.events_path, fsync=False)
    t0 = time.perf_counter()
    for i in range(EVENTS):
        k = i % 4
        if k == 0:
            log.append("net", "net.request", {"flow_id": f"f{i}", "method": "GET", "url": f"https://pypi.org/simple/pkg{i % 500}/"})
        elif k == 1:
            log.append("proc", "proc.exec", {"argv": ["python", f"step{i}.py"], "pid": i, "ppid": 1})
        elif k == 2:
            log.append("proc", "proc.open", {"path": f"/workspace/data/{i % 1000}.bin", "pid": i})
        else:
            log.append("fs", "fs.write", {"path": f"out/{i % 1000}.txt", "size": 10, "sha256": "0" * 64})
    log.close()
    t_write = time.perf_counter() - t0
    bench_dir = tmp / "task"
    bench_dir.mkdir()
    (bench_dir / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_split(1300, 7)))
    (bench_dir / "task.toml").write_text('name = "b"\nbase_model = "o/m"\n[[benchmarks]]\nname = "gsm8k"\n'
                                         'test_set = "test.jsonl"\nfields = ["question", "answer"]\n'
                                         'hub_ids = ["openai/gsm8k"]\npypi_packages = ["gsm8k-data"]\n')
    from ptaudit.task import load_task

    task = load_task(bench_dir / "task.toml")
    pol = Policy.model_validate({"version": 1, "name": "b", "rules": [
        {"id": "leak", "detector": "leakage", "severity": "high"}]})
    t, res = timed(lambda: replay(rd.path, pol, task))
    print(f"\nreplay: {EVENTS} events ({rd.events_path.stat().st_size / 1e6:.0f} MB log, written in {t_write:.1f} s) "
          f"in {t:.1f} s = {EVENTS / t:,.0f} events/s, {len(res.findings)} findings")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
