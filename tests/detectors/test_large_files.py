"""Every byte is scanned whatever its size: files over the blob cap are streamed from disk
by the file monitor (at close and at the final scan), large files are scanned in parallel
parts that add up to the same result, and ``ptaudit scan`` sees the same."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from conftest import RunBuilder, make_policy
from gsm_synth import benign_math

from detectors.engine import replay
from detectors.leak_index import LeakIndex
from detectors.leak_parallel import IndexSpec, scan_files
from detectors.leak_scan import Scanner
from detectors.leakage import workspace_scanner
from detectors.testset import TestItem
from monitors.fs_watch import FsWatch, FsWatchConfig
from ptaudit.core.session import RunSession


def _jsonl(rows) -> bytes:  # type: ignore[no-untyped-def]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _padded(test_rows, mb: float) -> bytes:  # type: ignore[no-untyped-def]
    pad = (benign_math(40, seed=5) + "\n").encode()
    body = pad * (int(mb * (1 << 20)) // len(pad) + 1)
    return body + _jsonl(test_rows)


def test_file_over_the_blob_cap_is_streamed_from_disk_and_found(tmp_path: Path, task, test_rows) -> None:
    """The issue's case: the whole test set behind 18.9 MB of padding, over fs_store_max
    (16 MiB): hashed, not stored, and still scanned (at close, by the monitor)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    s = RunSession.create(tmp_path / "run", command=["agent"])
    pol = make_policy()
    m = FsWatch(FsWatchConfig(workspace=ws, debounce_s=0.2, store_max=16 << 20), blobs=s.rundir.blobs,
                content_scan=workspace_scanner(pol, task))
    m.start(s.record)
    data = _padded(test_rows, 18.9)
    assert len(data) > 16 << 20
    (ws / "big.jsonl").write_bytes(data)
    deadline = time.monotonic() + 60
    events = tmp_path / "run" / "events.jsonl"
    want = hashlib.sha256(data).hexdigest().encode()
    while time.monotonic() < deadline and not any(b"fs.content_scan" in ln and want in ln
                                                  for ln in events.read_bytes().splitlines()):
        time.sleep(0.1)
    m.final_scan()
    s.close(0, "agent_exit")
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    # the last fs.write is the whole file (a busy machine may also record one mid-write)
    write = [e["data"] for e in lines if e["kind"] == "fs.write" and e["data"]["path"] == "big.jsonl"][-1]
    assert not write.get("blobs")  # over the cap: not stored
    scans = [e for e in lines if e["kind"] == "fs.content_scan"]
    # scanned at close; the final scan saw it unchanged and did not scan it again
    assert [s["data"]["sha256"] for s in scans].count(write["sha256"]) == 1
    found = replay(tmp_path / "run", pol, task).findings
    (f,) = found
    assert f.category == "test_set_leakage" and f.subject == "big.jsonl"
    assert f.evidence[0]["items_hit"] == len(test_rows)
    first = f.evidence[1]
    assert data[first["offset"]:].startswith(test_rows[0]["question"][:40].encode())
    match = next(e for e in f.evidence if "match" in e)
    line = data[: match["offset"]].count(b"\n") + 1
    assert match["path"][:2] == ["big.jsonl", f"line {line:,}"] and match["path"][2].startswith("field ")


def test_unchanged_final_scan_of_a_file_written_before_the_watch(tmp_path: Path, task, test_rows) -> None:
    """A large file the live watch never reported is scanned at the final scan."""
    ws = tmp_path / "ws"
    ws.mkdir()
    s = RunSession.create(tmp_path / "run", command=["agent"])
    pol = make_policy()
    m = FsWatch(FsWatchConfig(workspace=ws, debounce_s=0.2, store_max=1 << 16), blobs=s.rundir.blobs,
                content_scan=workspace_scanner(pol, task))
    m.start(s.record)
    m.stop()  # the watch is blind from here on
    (ws / "late.txt").write_bytes(_padded(test_rows[:3], 0.5))
    m.final_scan()
    s.close(0, "agent_exit")
    (f,) = replay(tmp_path / "run", pol, task).findings
    assert f.subject == "late.txt" and f.evidence[0]["items_hit"] == 3


def test_parallel_parts_equal_one_piece(tmp_path: Path, test_rows, train_rows) -> None:
    """A large file split into ranges (text) or row-group shares (Parquet) across two
    processes gives the same items, offsets, lines and paths as one sequential scan."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    items = tuple(TestItem(r["id"], {"question": r["question"], "answer": r["answer"]}) for r in test_rows)
    spec = IndexSpec("gsm8k", ("t", "par"), items, 20, 50, 13)
    scanner = Scanner({"gsm8k": spec.build()})
    rows = []
    for i in range(40):
        rows += train_rows
        rows.append(dict(test_rows[i], id=f"copy{i}"))
    text = tmp_path / "d.jsonl"
    text.write_bytes(_jsonl(rows))
    par = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), par, row_group_size=1500)
    for f in (text, par):
        [(_, _, one)] = list(scan_files(scanner, [spec], [(f, f.name)], workers=1))
        [(_, _, two)] = list(scan_files(scanner, [spec], [(f, f.name)], workers=2, range_bytes=1 << 20))
        assert len(one.hits["gsm8k"]) == 40
        assert {k: (h.offset, h.path, h.length) for k, h in two.hits["gsm8k"].items()} == \
            {k: (h.offset, h.path, h.length) for k, h in one.hits["gsm8k"].items()}
        assert isinstance(spec.build(), LeakIndex)
    # in a threaded process (a live run) the workers come from a fork server and build
    # their own index from the items
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        [(_, _, three)] = list(scan_files(scanner, [spec], [(text, text.name)], workers=2, range_bytes=1 << 20))
    finally:
        stop.set()
    [(_, _, one)] = list(scan_files(scanner, [spec], [(text, text.name)], workers=1))
    assert {k: h.offset for k, h in three.hits["gsm8k"].items()} == {k: h.offset for k, h in one.hits["gsm8k"].items()}


def test_cli_scan_of_a_large_file(tmp_path: Path, bench_dir: Path, test_rows) -> None:
    from tests.support import run_ptaudit

    big = tmp_path / "big.jsonl"
    big.write_bytes(_padded(test_rows[:5], 20))
    p = run_ptaudit("scan", str(big), "--task", str(bench_dir / "task.toml"), "--format", "json")
    assert p.returncode == 1, p.stderr
    [f] = json.loads(p.stdout)["findings"]
    assert f["evidence"][0]["items_hit"] == 5


def test_body_stored_only_in_part_is_a_gap_unless_it_is_weights(tmp_path: Path, task, test_rows) -> None:
    b = RunBuilder(tmp_path / "run", task)
    prefix = _jsonl(test_rows[:2])
    sha = b.blob(prefix)
    b.event("net.response", url="https://example.org/big.jsonl", status=200, size=1 << 30, blobs=[sha],
            body={"blob": sha, "size": 1 << 30, "truncated": True, "sniff": "jsonl", "complete": True})
    w = b.blob(b"GGUF" + bytes(100))
    b.event("net.response", url="https://example.org/model.gguf", status=200, size=1 << 31, blobs=[w],
            body={"blob": w, "size": 1 << 31, "truncated": True, "sniff": "gguf", "complete": True})
    b.event("net.response", url="https://example.org/unstored.jsonl", status=200, size=5000, blobs=[],
            body={"blob": None, "size": 5000, "truncated": False, "sniff": "jsonl", "complete": True})
    b.close()
    found = replay(b.rd.path, make_policy(), task).findings
    got = sorted((f.category, f.subject, f.severity) for f in found)
    assert got == [("monitor_fault", "leakage-scan:https://example.org/big.jsonl", "medium"),
                   ("monitor_fault", "leakage-scan:https://example.org/unstored.jsonl", "medium"),
                   ("test_set_leakage", "https://example.org/big.jsonl", "high")]


def test_scan_progress_adds_up_to_the_bytes_on_disk(tmp_path: Path, task, test_rows) -> None:
    """The progress callback (``ptaudit scan``'s bar) sees every byte once, chunk by chunk."""
    import gzip

    from detectors.engine import scan_path

    d = tmp_path / "d"
    d.mkdir()
    (d / "a.jsonl").write_bytes(_padded(test_rows[:2], 9))
    (d / "b.jsonl.gz").write_bytes(gzip.compress(_padded(test_rows[2:4], 1)))
    (d / "c.txt").write_bytes(b"hello\n" * 10)
    ticks: list[int] = []
    found = scan_path(d, task, make_policy(chunk_bytes=1 << 20), progress=ticks.append)
    assert sum(ticks) == sum(p.stat().st_size for p in d.iterdir())
    assert len(ticks) > 5  # chunk by chunk, not file by file
    assert sorted(f.subject for f in found) == ["a.jsonl", "b.jsonl.gz"]


def test_item_inside_binary_data_is_found_at_its_offset(tmp_path: Path, task, test_rows) -> None:
    """Binary blocks (here float32 noise) skip the Unicode path; ASCII text inside them is
    still read, with exact offsets."""
    import numpy as np
    noise = np.random.default_rng(1).standard_normal(1 << 19, dtype=np.float32).tobytes()
    item = test_rows[7]["question"].encode()
    data = noise + b"\n" + item + b"\n" + noise
    b = RunBuilder(tmp_path / "run", task)
    b.write_file("ckpt/extra.bin", data)
    b.close()
    (f,) = replay(b.rd.path, make_policy(), task).findings
    assert f.evidence[1]["offset"] == len(noise) + 1 and f.evidence[0]["item_ids"] == [test_rows[7]["id"]]
