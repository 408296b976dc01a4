"""Leakage scan throughput against a naive hashed 13-gram scanner and ``grep -F -f``;
replay speed of a long run.

    python bench/bench_leakage.py                  # ~200 MB per corpus and format, 1M-event replay
    PTA_BENCH_MB=20 PTA_BENCH_EVENTS=100000 python bench/bench_leakage.py   # quick

Data: a 1,300-item synthetic GSM8K-like test set. Two scanned corpora, each as JSONL and as
Parquet, each with 0.1% of rows copied from the test set:

* style-matched: independent math word problems from the same generator (same templates,
  names and vocabulary: the hard case for a prefilter, ~7% of sampled anchors hit);
* ordinary: prose rows made of sentences from the Python standard library's docstrings.

Every ratio is against the naive scanner timed in the same run on (a sample of) the same
corpus's JSONL. Parquet is reported per file byte (the column) and per decoded text byte
(the ``text MB/s`` column: the string values the scanner reads, ~2.4x the file).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "detectors")]

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from gsm_synth import make_split  # noqa: E402

from detectors.leak_decode import string_buffers  # noqa: E402
from detectors.leak_index import LeakIndex  # noqa: E402
from detectors.leak_scan import Scanner  # noqa: E402
from detectors.testset import TestItem  # noqa: E402

MB = int(os.environ.get("PTA_BENCH_MB", "200"))
EVENTS = int(os.environ.get("PTA_BENCH_EVENTS", "1000000"))
NAIVE_MB = 40  # the naive scanner is slow: it is timed on the first 40 MB


def _repeat(base: list[dict[str, str]], mb: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    size = 0
    while size < mb << 20:
        rows.extend(base)
        size += sum(sum(len(v) for v in r.values()) + 40 for r in base)
    return rows


def corpus(test: list[dict[str, str]], mb: int) -> list[dict[str, str]]:
    """Style-matched: same-generator math problems, every 1000th row a test item."""
    base = make_split(20000, seed=99)
    for i in range(0, len(base), 1000):
        base[i] = dict(test[i // 1000 % len(test)], id=f"copy{i}")
    return _repeat(base, mb)


_STDLIB = ("os re json csv collections itertools functools typing pathlib subprocess argparse logging "
           "unittest email.message http.client urllib.request asyncio datetime decimal fractions statistics "
           "random string textwrap difflib sqlite3 zipfile tarfile shutil tempfile threading "
           "multiprocessing socket ssl inspect ast dis pickle copy enum dataclasses contextlib io "
           "struct codecs locale gettext calendar heapq bisect array queue sched selectors signal "
           "mmap hashlib hmac secrets base64 binascii gzip bz2 lzma zlib xml.etree.ElementTree "
           "html.parser configparser tomllib pprint traceback warnings weakref abc numbers math "
           "cmath operator glob fnmatch filecmp stat platform sysconfig importlib timeit trace "
           "tracemalloc pdb doctest").split()


def ordinary_sentences() -> list[str]:
    """Sentences of ordinary technical English: the standard library's docstrings."""
    out: set[str] = set()
    for name in _STDLIB:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(name)
        except ImportError:
            continue
        docs = [mod.__doc__ or ""]
        for key, val in sorted(vars(mod).items()):
            if not key.startswith("_") and (inspect.isfunction(val) or inspect.isclass(val) or inspect.isbuiltin(val)):
                docs.append(getattr(val, "__doc__", None) or "")
                if inspect.isclass(val):
                    docs += [getattr(m, "__doc__", None) or "" for k, m in sorted(vars(val).items())
                             if not k.startswith("_") and callable(m)]
        for d in (d for d in docs if isinstance(d, str)):
            for sent in re.split(r"(?<=[.!?])\s+", " ".join(d.split())):
                if 30 <= len(sent) <= 400:
                    out.add(sent)
    return sorted(out)


def ordinary_corpus(test: list[dict[str, str]], mb: int) -> list[dict[str, str]]:
    """Ordinary: prose rows of 4-12 docstring sentences, every 1000th row a test item."""
    sents = ordinary_sentences()
    rng = random.Random(11)
    base = [{"id": f"doc{i}", "text": " ".join(rng.choices(sents, k=rng.randint(4, 12)))} for i in range(20000)]
    for i in range(0, len(base), 1000):
        r = test[i // 1000 % len(test)]
        base[i] = {"id": f"copy{i}", "text": r["question"] + "\n\n" + r["answer"]}
    return _repeat(base, mb)


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


def text_bytes(path: Path) -> int:
    """Bytes of string values in a Parquet file (what the scanner decodes and reads)."""
    pf = pq.ParquetFile(path)
    return sum(len(b) for batch in pf.iter_batches(batch_size=65536) for col in batch.columns
               for b in string_buffers(col))


def bench_corpus(label: str, rows: list[dict[str, str]], test: list[dict[str, str]], scanner: Scanner,
                 tmp: Path) -> None:
    jl = tmp / f"{label}.jsonl"
    jl.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    pqf = tmp / f"{label}.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pqf)
    del rows
    pat = tmp / "patterns.txt"
    pat.write_text("".join(json.dumps(r["question"])[1:-1] + "\n" for r in test))
    size_jl, size_pq = jl.stat().st_size, pqf.stat().st_size
    text_pq = text_bytes(pqf)

    table = []  # (name, bytes, seconds, result, decoded text bytes or None)
    for fmt, path, size, text in (("JSONL", jl, size_jl, None), ("Parquet", pqf, size_pq, text_pq)):
        def ours(path: Path = path) -> int:
            with open(path, "rb") as fh:
                return len(scanner.scan(fh, path.name).hits.get("gsm8k", {}))
        t, hits = timed(ours)
        table.append((f"ptaudit leakage, {fmt}", size, t, f"{hits} items", text))
    with open(jl, "rb") as fh:
        sample = fh.read(NAIVE_MB << 20)
    t, hits = timed(lambda: naive_scan(sample, test))
    table.append(("naive hashed 13-gram, JSONL", len(sample), t, f"{hits} 13-gram hits", None))
    t, out = timed(lambda: subprocess.run(["grep", "-F", "-c", "-f", str(pat), str(jl)],
                                          capture_output=True, text=True).stdout.strip())
    table.append(("grep -F -f (questions), JSONL", size_jl, t, f"{out} lines", None))

    naive_mbs = table[2][1] / table[2][2] / 1e6
    print(f"\n{label} corpus")
    print(f"{'scanner':32} {'MB':>7} {'s':>7} {'MB/s':>7} {'x naive':>7} {'text MB/s':>9} {'x naive':>7}  result")
    for name, size, t, res, text in table:
        mbs = size / t / 1e6
        extra = f"{text / t / 1e6:9.1f} {text / t / 1e6 / naive_mbs:7.1f}" if text else f"{'':9} {'':7}"
        print(f"{name:32} {size / 1e6:7.1f} {t:7.2f} {mbs:7.1f} {mbs / naive_mbs:7.1f} {extra}  {res}")
    if text_pq:
        print(f"(Parquet: {size_pq / 1e6:.1f} MB file, {text_pq / 1e6:.1f} MB of string values)")
    jl.unlink()
    pqf.unlink()


def main() -> None:
    test = make_split(1300, seed=7)
    items = [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test]
    t_index, idx = timed(lambda: LeakIndex(items))
    scanner = Scanner({"gsm8k": idx})  # type: ignore[dict-item]
    print(f"index: {len(test)} items, {len(idx)} anchors, {idx.stop_anchors} stop anchors, {t_index:.2f} s")
    tmp = Path(tempfile.mkdtemp(prefix="bench-leak-"))
    try:
        bench_corpus("style-matched", corpus(test, MB), test, scanner, tmp)
        bench_corpus("ordinary", ordinary_corpus(test, MB), test, scanner, tmp)
        replay_bench(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replay_bench(tmp: Path) -> None:
    from detectors.engine import replay
    from policies.schema import Policy
    from ptaudit.core.rundir import RunDir
    from ptaudit.core.runlog import RunLogWriter

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
    from ptaudit.core.task import load_task

    task = load_task(bench_dir / "task.toml")
    pol = Policy.model_validate({"version": 1, "name": "b", "rules": [
        {"id": "leak", "detector": "leakage", "severity": "high"}]})
    t, res = timed(lambda: replay(rd.path, pol, task))
    print(f"\nreplay: {EVENTS} events ({rd.events_path.stat().st_size / 1e6:.0f} MB log, written in {t_write:.1f} s) "
          f"in {t:.1f} s = {EVENTS / t:,.0f} events/s, {len(res.findings)} findings")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
