"""Leakage scan throughput, one run, one table: a naive hashed 13-gram scanner, ``grep -F``,
the previous scanner (``engine="v1"``) and the current one (one process, then every core)
on JSONL, Parquet, gzip'ed JSONL and a mixed workspace; the paraphrase layer's units/s
and its precision/recall/F1 (with the threshold curve) on the labelled fixture; a
profile of the current scanner on JSONL.

    python bench/bench_leakage.py                  # ~200 MB JSONL, ~1 GB workspace
    python bench/bench_leakage.py --quick          # 20 MB (or PTA_BENCH_MB=20)

Data: a 1,300-item synthetic GSM8K-like test set; the scanned corpus is same-generator
math word problems (same templates, names and vocabulary: the hard case for a prefilter),
a 20,000-row base repeated, with every 1,000th row a copied test item. The workspace adds
ordinary prose (standard-library docstrings), a zip and 1,000 small files. Every number
comes from this run, on this machine (2 cores, shared: numbers move with load).
"""

from __future__ import annotations

import cProfile
import gzip
import io
import json
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "detectors"), str(ROOT / "bench")]

import _results  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from gsm_synth import make_split  # noqa: E402

from detectors.leak_decode import string_buffers  # noqa: E402
from detectors.leak_parallel import IndexSpec, scan_files  # noqa: E402
from detectors.leak_scan import Scanner  # noqa: E402
from detectors.testset import TestItem  # noqa: E402

MB = int(os.environ.get("PTA_BENCH_MB", "20" if "--quick" in sys.argv else "200"))
NAIVE_MB = max(4, MB // 5)  # the naive scanner is slow: timed on a prefix
WORKERS = os.cpu_count() or 1


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


def ordinary_rows(test: list[dict[str, str]], mb: int) -> list[dict[str, str]]:
    """Ordinary prose: sentences of the standard library's docstrings."""
    import inspect

    sents: set[str] = set()
    for name in ("os", "re", "json", "collections", "pathlib", "subprocess", "argparse", "logging", "asyncio",
                 "datetime", "decimal", "statistics", "textwrap", "difflib", "sqlite3", "zipfile", "tarfile",
                 "threading", "socket", "ssl", "inspect", "ast", "pickle", "enum", "dataclasses", "io", "struct"):
        mod = __import__(name)
        for _, val in sorted(vars(mod).items()):
            doc = getattr(val, "__doc__", None) if inspect.isfunction(val) or inspect.isclass(val) else None
            for s in " ".join((doc if isinstance(doc, str) else "").split()).split(". "):
                if 30 <= len(s) <= 300:
                    sents.add(s + ".")
    pool = sorted(sents)
    rng = random.Random(11)
    base = [{"id": f"doc{i}", "text": " ".join(rng.choices(pool, k=rng.randint(4, 12)))} for i in range(20000)]
    for i in range(0, len(base), 1000):
        r = test[i // 1000 % len(test)]
        base[i] = {"id": f"copy{i}", "text": r["question"] + "\n\n" + r["answer"]}
    return _repeat(base, mb)


def jsonl_bytes(rows: list[dict[str, str]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def naive_scan(data: bytes, test: list[dict[str, str]]) -> int:
    import re

    grams = set()
    for r in test:
        toks = re.findall(r"\w+", (r["question"] + " " + r["answer"]).lower())
        grams.update(hash(tuple(toks[i:i + 13])) for i in range(len(toks) - 12))
    hits = 0
    for line in data.splitlines():
        toks = re.findall(r"\w+", line.decode("utf-8", "replace").lower())
        hits += sum(hash(tuple(toks[i:i + 13])) in grams for i in range(len(toks) - 12))
    return hits


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def text_bytes(path: Path) -> int:
    pf = pq.ParquetFile(path)
    return sum(len(b) for batch in pf.iter_batches(batch_size=65536) for col in batch.columns
               for b in string_buffers(col))


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, float, str, float | None]] = []
        self.naive: dict[str, float] = {}
        self.grep: dict[str, float] = {}

    def add(self, corpus: str, name: str, size: int, secs: float, result: str, text: int | None = None) -> None:
        self.rows.append((corpus, name, size / 1e6, secs, result, text / 1e6 if text else None))

    def print(self) -> None:
        print(f"\n{'corpus':16} {'scanner':34} {'MB':>8} {'s':>7} {'MB/s':>7} {'x naive':>7} {'x grep':>6} "
              f"{'text MB/s':>9}  result")
        for corpus, name, mb, s, res, text in self.rows:
            rate = mb / s
            xn = rate / self.naive[corpus] if corpus in self.naive else float("nan")
            xg = rate / self.grep[corpus] if corpus in self.grep else float("nan")
            tx = f"{text / s:9.1f}" if text else " " * 9
            print(f"{corpus:16} {name:34} {mb:8.1f} {s:7.2f} {rate:7.1f} {xn:7.1f} {xg:6.2f} {tx}  {res}")

    def record(self) -> None:
        """The side-by-side ratios for ``make bench`` (bench/_results.py)."""
        rate = {(c, n.split(",")[0] if n.startswith("previous") else n): mb / s for c, n, mb, s, _, _ in self.rows}
        for (corpus, name), r in rate.items():
            if not name.startswith("current"):
                continue
            v1 = rate.get((corpus, "previous scanner (v1)"))
            if v1:
                _results.record("leakage", f"{corpus}: {name} vs previous scanner", r, "MB/s", v1,
                                "previous scanner (v1), 1 process")
            grep = self.grep.get(corpus)
            if grep and corpus in ("JSONL", "workspace"):
                _results.record("leakage", f"{corpus}: {name} vs grep -F", r, "MB/s", grep, "grep -F -f",
                                goal=0.3 if corpus == "JSONL" and name.endswith("processes") else None)


def scan_with(scanner: Scanner, spec: IndexSpec, files: list[tuple[Path, str]], workers: int) -> int:
    items = 0
    for _p, _l, res in scan_files(scanner, [spec], files, workers):
        items += len(res.hits.get("gsm8k", {}))
    return items


def main() -> None:
    test = make_split(1300, seed=7)
    items = tuple(TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test)
    spec = IndexSpec("gsm8k", ("bench",), items, 20, 50, 13)
    t_index, idx = timed(spec.build)
    new, old = Scanner({"gsm8k": idx}), Scanner({"gsm8k": idx}, engine="v1")  # type: ignore[dict-item]
    print(f"index: {len(test)} items, {len(idx)} anchors, {idx.stop_anchors} stop anchors, {t_index:.2f} s; "  # type: ignore[arg-type]
          f"{WORKERS} cores; load average {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-leak-"))
    table = Table()
    try:
        rows = corpus(test, MB)
        jl = tmp / "style.jsonl"
        jl.write_bytes(jsonl_bytes(rows))
        pqf = tmp / "style.parquet"
        pq.write_table(pa.Table.from_pylist(rows), pqf, row_group_size=100_000)
        gz = tmp / "style.jsonl.gz"
        gz.write_bytes(gzip.compress(jl.read_bytes(), compresslevel=6))
        del rows
        pat = tmp / "patterns.txt"
        pat.write_text("".join(json.dumps(r["question"])[1:-1][:50] + "\n" for r in test))
        size = jl.stat().st_size

        with open(jl, "rb") as fh:
            sample = fh.read(NAIVE_MB << 20)
        t, hits = timed(lambda: naive_scan(sample, test))
        table.add("JSONL", "naive hashed 13-gram (prefix)", len(sample), t, f"{hits} 13-gram hits")
        table.naive["JSONL"] = len(sample) / t / 1e6
        t, out = timed(lambda: subprocess.run(["grep", "-F", "-c", "-f", str(pat), str(jl)], capture_output=True,
                                              text=True).stdout.strip())
        table.add("JSONL", "grep -F -f (50-char prefixes)", size, t, f"{out} lines")
        table.grep["JSONL"] = size / t / 1e6
        for name, sc, w in (("previous scanner (v1), 1 process", old, 1), ("current, 1 process", new, 1),
                            (f"current, {WORKERS} processes", new, WORKERS)):
            t, n = timed(lambda sc=sc, w=w: scan_with(sc, spec, [(jl, jl.name)], w))  # type: ignore[misc]
            table.add("JSONL", name, size, t, f"{n} items")

        psize, ptext = pqf.stat().st_size, text_bytes(pqf)
        table.naive["Parquet"], table.grep["Parquet"] = table.naive["JSONL"], table.grep["JSONL"]
        for name, sc, w in (("previous scanner (v1), 1 process", old, 1), ("current, 1 process", new, 1),
                            (f"current, {WORKERS} processes", new, WORKERS)):
            t, n = timed(lambda sc=sc, w=w: scan_with(sc, spec, [(pqf, pqf.name)], w))  # type: ignore[misc]
            table.add("Parquet", name, psize, t, f"{n} items", ptext)

        gsize = gz.stat().st_size
        table.naive["JSONL.gz"], table.grep["JSONL.gz"] = table.naive["JSONL"], table.grep["JSONL"]
        t, out = timed(lambda: subprocess.run(f"zcat {gz} | grep -F -c -f {pat}", shell=True,  # noqa: S602
                                              capture_output=True, text=True).stdout.strip())
        table.add("JSONL.gz", "zcat | grep -F -f", gsize, t, f"{out} lines", size)
        for name, sc in (("previous scanner (v1), 1 process", old), ("current, 1 process", new)):
            t, n = timed(lambda sc=sc: scan_with(sc, spec, [(gz, gz.name)], 1))  # type: ignore[misc]
            table.add("JSONL.gz", name, gsize, t, f"{n} items", size)

        ws = workspace(tmp, test, jl, pqf, gz)
        files = sorted((p, p.relative_to(ws).as_posix()) for p in ws.rglob("*") if p.is_file())
        wsize = sum(p.stat().st_size for p, _ in files)
        t, out = timed(lambda: subprocess.run(["grep", "-rFc", "-f", str(pat), str(ws)], capture_output=True,
                                              text=True).stdout.count("\n"))
        table.add("workspace", "grep -rF -f (no decoding)", wsize, t, f"{len(files)} files")
        table.grep["workspace"] = wsize / t / 1e6
        table.naive["workspace"] = table.naive["JSONL"]
        for name, sc, w in (("previous scanner (v1), 1 process", old, 1),
                            (f"current, {WORKERS} processes", new, WORKERS)):
            t, n = timed(lambda sc=sc, w=w: scan_with(sc, spec, files, w))  # type: ignore[misc]
            table.add("workspace", name, wsize, t, f"{n} item-files")
        para = paraphrase_bench(tmp, test)
        table.print()
        table.record()
        print(para)
        profile(new, jl)
        _results.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def workspace(tmp: Path, test: list[dict[str, str]], jl: Path, pqf: Path, gz: Path) -> Path:
    """~5x MB of mixed files: the corpora above, ordinary prose, a zip, many small files."""
    ws = tmp / "ws"
    (ws / "data").mkdir(parents=True)
    for f in (jl, pqf, gz):
        os.link(f, ws / "data" / f.name)
    (ws / "data" / "prose.jsonl").write_bytes(jsonl_bytes(ordinary_rows(test, MB)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("sft/prose.jsonl", jsonl_bytes(ordinary_rows(test, MB // 4)))
    (ws / "data" / "archive.zip").write_bytes(buf.getvalue())
    prose = (ws / "data" / "prose.jsonl").read_bytes()
    (ws / "data" / "prose2.jsonl").write_bytes(prose + prose)  # fills the workspace up to ~5x MB
    small = ws / "src"
    small.mkdir()
    rng = random.Random(5)
    for i in range(1000):
        start = rng.randrange(0, len(prose) - 40_000)
        (small / f"f{i:04d}.txt").write_bytes(prose[start:start + rng.randint(1000, 40_000)])
    return ws


def paraphrase_bench(tmp: Path, test: list[dict[str, str]]) -> str:
    """Units/s of the paraphrase layer on a JSONL of the style-matched corpus, and its
    precision/recall/F1 on the fixture over a threshold curve."""
    from para_fixture import fixture, paraphrase, prf

    from detectors.leak_para import Embedder, ParaIndex, ParaphraseScanner
    from detectors.leakage import LeakageParams

    shipped = LeakageParams().semantic_threshold
    t_load, _ = timed(Embedder.model)
    rows = [{"prompt": r["question"], "response": r["answer"]} for r in make_split(3000, seed=42)]
    rng = random.Random(1)
    for r in test[:30]:
        rows.insert(rng.randrange(len(rows)), {"prompt": paraphrase(r["question"], rng), "response": "..."})
    data = jsonl_bytes(rows)
    items = [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test]
    t_idx, idx = timed(lambda: ParaIndex(items))
    sc = ParaphraseScanner({"gsm8k": idx}, shipped)  # type: ignore[dict-item]
    t, res = timed(lambda: sc.scan(io.BytesIO(data), "para.jsonl"))
    found = len(res.hits.get("gsm8k", {}))  # type: ignore[attr-defined]
    _results.record("leakage", "paraphrase layer units/s", res.units / t, "units/s",  # type: ignore[attr-defined]
                    note=f"{res.candidates} candidates, {found}/30 found")  # type: ignore[attr-defined]
    out = [f"\nparaphrase layer: model load {t_load:.1f} s, index {t_idx:.2f} s; {len(data) / 1e6:.1f} MB, "
           f"{res.units} units, {res.candidates} candidates in {t:.2f} s = {res.units / t:,.0f} units/s, "  # type: ignore[attr-defined]
           f"{len(data) / t / 1e6:.2f} MB/s; found {found}/30 paraphrased items"]
    cases = fixture(test[:120])
    fx_items = [TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test[:120]]
    fx_idx = ParaIndex(fx_items)
    low = ParaphraseScanner({"gsm8k": fx_idx}, 0.0)
    pending = []
    from detectors.leak_para import _Unit

    for k, c in enumerate(cases):
        u = _Unit(c.text, f"#{k}", (), None)
        pending += [(u, "gsm8k", d, nums) for d, _s, nums in fx_idx.candidates(c.text)]
    t, scored = timed(lambda: low.score(pending))
    n_pos = sum(c.item is not None for c in cases)
    out.append(f"fixture: {n_pos} paraphrases, {len(cases) - n_pos} benign look-alikes, {len(pending)} candidates "
               f"scored in {t:.1f} s")
    out.append(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'FP':>4} {'FN':>4}")
    for th in [0.6, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85, 0.88, 0.9, 0.95]:
        pred: list[set[str]] = [set() for _ in cases]
        for (u, _b, d, _n), sim, ok in scored:  # type: ignore[attr-defined]
            if ok and sim >= th:
                pred[int(u.where[1:])].add(fx_idx.item_ids[fx_idx.docs[d].item])
        r = prf(cases, pred)
        mark = "  <- shipped" if abs(th - shipped) < 1e-9 else ""
        if mark:
            _results.record("leakage", f"paraphrase fixture F1 at {shipped} ({r['fp']} false positives)", r["f1"],
                            "F1", 1.0, "perfect", goal=0.95)
        out.append(f"{th:9.2f} {r['precision']:9.3f} {r['recall']:7.3f} {r['f1']:6.3f} {r['fp']:4d} {r['fn']:4d}{mark}")
    return "\n".join(out)


def profile(scanner: Scanner, jl: Path) -> None:
    """Where the time goes: the current scanner, one process, on the JSONL (first 50 MB)."""
    data = jl.read_bytes()[: 50 << 20]
    prof = cProfile.Profile()
    prof.enable()
    scanner.scan_bytes(data, "style.jsonl")
    prof.disable()
    print("\nprofile: current scanner, one process, 50 MB of the JSONL (top 12 by own time)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
