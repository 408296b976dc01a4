"""The leakage detector over recorded events: encodings, containers, names, negatives."""

from __future__ import annotations

import base64
import bz2
import csv
import gzip
import io
import json
import lzma
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import RunBuilder, make_policy
from gsm_synth import benign_math, make_split

from detectors.base import Finding
from detectors.engine import replay


def jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def run_files(tmp_path: Path, task, files: dict[str, bytes], **params) -> list[Finding]:
    b = RunBuilder(tmp_path / "run", task)
    for name, data in files.items():
        b.write_file(name, data)
    b.close()
    return [f for f in replay(b.rd.path, make_policy(**params), task).findings]


def items_hit(f: Finding) -> int:
    return f.evidence[0]["items_hit"]


def _parquet(rows) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _arrow(rows) -> bytes:
    buf = io.BytesIO()
    feather.write_feather(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _csv(rows) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def _targz(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _python_disguised(rows) -> bytes:
    lines = ['"""Synthetic practice problems generated for curriculum warm-up."""', "",
             "def make_synthetic_custom():", '    """Return freshly generated items."""', "    items_custom = ["]
    for r in rows:
        q = r["q"]
        half = len(q) // 2
        lines.append(f"        dict(prompt_custom=({q[:half]!r}\n            {q[half:]!r}), target_custom={r['a']!r}),")
    lines += ["    ]", "    return items_custom", ""]
    return "\n".join(lines).encode()


ENCODINGS = {
    "jsonl": lambda rows: ("train.jsonl", jsonl(rows)),
    "json-ascii-escaped": lambda rows: ("data.json", json.dumps(rows, ensure_ascii=True, indent=1).encode()),
    "csv": lambda rows: ("data.csv", _csv(rows)),
    "parquet": lambda rows: ("data/train-00000.parquet", _parquet(rows)),
    "arrow": lambda rows: ("data.arrow", _arrow(rows)),
    "gzip": lambda rows: ("d.jsonl.gz", gzip.compress(jsonl(rows))),
    "zstd": lambda rows: ("d.jsonl.zst", zstandard.ZstdCompressor().compress(jsonl(rows))),
    "bz2": lambda rows: ("d.jsonl.bz2", bz2.compress(jsonl(rows))),
    "xz": lambda rows: ("d.jsonl.xz", lzma.compress(jsonl(rows))),
    "zip": lambda rows: ("d.zip", _zip("inner/test.jsonl", jsonl(rows))),
    "tar.gz": lambda rows: ("d.tar.gz", _targz("a/b.jsonl", jsonl(rows))),
    "zip-in-gzip": lambda rows: ("nested.bin", gzip.compress(_zip("x.parquet", _parquet(rows)))),
    "base64": lambda rows: ("notes.txt", b"payload: " + base64.b64encode(jsonl(rows)) + b"\n"),
    "hex": lambda rows: ("notes.txt", b"blob=" + jsonl(rows).hex().encode() + b"\n"),
    "base64-gzip": lambda rows: ("cfg.yaml", b"data: " + base64.b64encode(gzip.compress(jsonl(rows))) + b"\n"),
    "python-disguised": lambda rows: ("prep_data.py", _python_disguised(rows)),
}


@pytest.mark.parametrize("enc", sorted(ENCODINGS))
def test_each_encoding_and_container_is_caught(tmp_path, task, test_rows, enc):
    rows = [{"q": r["question"], "a": r["answer"]} for r in test_rows[:15]]
    name, data = ENCODINGS[enc](rows)
    found = run_files(tmp_path, task, {name: data})
    assert len(found) == 1, found
    assert found[0].category == "test_set_leakage"
    assert items_hit(found[0]) == 15
    assert found[0].subject == name


def test_direct_ingestion_repeated_ten_times(tmp_path, task, test_rows):
    data = jsonl(test_rows) * 10
    (f,) = run_files(tmp_path, task, {"data/test.jsonl": data}, min_coverage_pct=90)
    ev = f.evidence[0]
    assert ev["items_hit"] == ev["items_total"] == len(test_rows)
    assert ev["coverage_pct"] == 100.0
    loc = f.evidence[1]
    assert loc["where"] == "data/test.jsonl" and loc["offset"] is not None
    # the offset points at the first item's text in the file
    first = test_rows[0]["question"][:20]
    assert data[loc["offset"]:loc["offset"] + 200].decode().find(first[:10]) >= 0


def test_byte_offsets_point_into_the_file(tmp_path, task, test_rows):
    filler = benign_math(30, seed=123).encode()
    item = test_rows[5]["question"].encode()
    data = filler + b"\n" + item + b"\n" + filler
    (f,) = run_files(tmp_path, task, {"notes.md": data})
    assert f.evidence[1]["offset"] == len(filler) + 1
    assert f.evidence[0]["item_ids"] == [test_rows[5]["id"]]


def test_item_split_across_stream_chunks_is_caught(tmp_path, task, test_rows):
    """A body scanned in small chunks: the item straddles a chunk boundary."""
    item = test_rows[3]["question"].encode()
    pad = b"x " * 2000
    half = len(item) // 2
    body = pad[: 4096 - half] + item + b" " + pad  # the item crosses the 4 KiB chunk edge
    body = body.replace(b"\n", b" ")
    b = RunBuilder(tmp_path / "run", task)
    b.response("https://example.org/stream", body)
    b.close()
    found = replay(b.rd.path, make_policy(chunk_bytes=4096), task).findings
    assert [items_hit(f) for f in found] == [1]


def test_file_written_in_two_halves_caught_at_final_scan(tmp_path, task, test_rows):
    data = jsonl(test_rows[:4])
    cut = len(data) // 2 + 7
    b = RunBuilder(tmp_path / "run", task)
    b.write_file("out.jsonl", data[:cut])
    b.write_file("out.jsonl", data, kind="fs.final_scan")
    b.close()
    (f,) = replay(b.rd.path, make_policy(), task).findings
    assert items_hit(f) == 4


def test_indirect_contamination_via_intermediate_dataset(tmp_path, task, test_rows):
    """A 'mixed math' dataset: reformatted, re-cased benchmark items among other problems."""
    others = make_split(200, seed=555)
    rows = [{"instruction": "Solve the following problem step by step.",
             "input": r["question"], "output": r["answer"]} for r in others]
    for i, r in enumerate(test_rows[:10]):
        rows.insert(i * 17, {"instruction": "SOLVE:", "input": r["question"].upper().replace(". ", ".\n\n"),
                             "output": "Let's think. " + r["answer"].replace("\n", " ")})
    b = RunBuilder(tmp_path / "run", task)
    b.response("https://huggingface.co/datasets/someone/mixed-math/resolve/main/train.parquet", _parquet(rows))
    b.close()
    (f,) = replay(b.rd.path, make_policy(), task).findings
    assert items_hit(f) == 10 and f.subject.startswith("https://huggingface.co/datasets/someone/mixed-math")


@pytest.mark.parametrize("what", ["benign-math", "train-split", "ordinary"])
def test_no_finding_on_clean_data(tmp_path, task, train_rows, what):
    if what == "benign-math":
        data = {"math.txt": benign_math(300, seed=99).encode()}
    elif what == "train-split":
        data = {"train.jsonl": jsonl(train_rows), "train.parquet": _parquet(train_rows)}
    else:
        rows = [{"text": f"Record {i}: the quick brown fox jumps over {i} lazy dogs near the river bank.",
                 "label": i % 3} for i in range(3000)]
        data = {"ordinary.jsonl": jsonl(rows), "ordinary.py": b"def f():\n    return 'hello world'\n"}
    assert run_files(tmp_path, task, data) == []


def test_zip_bomb_is_capped_and_the_cap_is_recorded(tmp_path, task, test_rows):
    inner = jsonl(test_rows[:3]) + b"\0" * (8 << 20)
    found = run_files(tmp_path, task, {"bomb.zip": _zip("big.jsonl", inner)}, max_scan_bytes=1 << 20)
    (f,) = [f for f in found if f.category == "test_set_leakage"]
    assert any("cap" in n for n in f.evidence[0]["notes"])
    # the cap is also a finding of its own: the scan of bomb.zip is incomplete
    (gap,) = [f for f in found if f.category == "monitor_fault"]
    assert gap.subject == "leakage-scan:bomb.zip" and gap.severity == "high" and "cap" in gap.message


def test_depth_cap(tmp_path, task, test_rows):
    data = jsonl(test_rows[:3])
    for _ in range(4):
        data = gzip.compress(data)
    capped = run_files(tmp_path, task, {"x.bin": data}, decode_depth=2)
    # not decoded past the cap, and not a silent pass: the skipped layers are a finding
    assert [(f.category, f.subject) for f in capped] == [("monitor_fault", "leakage-scan:x.bin")]
    assert "depth" in capped[0].message
    assert len(run_files(tmp_path / "b", task, {"x.bin": data}, decode_depth=5)) == 1


# -- by name ------------------------------------------------------------------------
HUB = "https://huggingface.co"


@pytest.mark.parametrize("url,flagged", [
    (f"{HUB}/datasets/openai/gsm8k/resolve/main/main/test-00000-of-00001.parquet", True),
    (f"{HUB}/datasets/openai/gsm8k/resolve/main/main/train-00000-of-00001.parquet", False),
    (f"{HUB}/api/datasets/openai/gsm8k/parquet/main/test/0.parquet", True),
    (f"{HUB}/api/datasets/openai/gsm8k/revision/main", False),
    (f"{HUB}/datasets/OpenAI/GSM8K/resolve/main/data.jsonl", True),
    ("https://datasets-server.huggingface.co/rows?dataset=openai%2Fgsm8k&config=main&split=test", True),
    (f"{HUB}/datasets/other/gsm8k-like/resolve/main/test.jsonl", False),
    ("https://pypi.org/simple/gsm8k-data/", True),
    ("https://files.pythonhosted.org/packages/aa/bb/gsm8k_data-1.0-py3-none-any.whl", True),
    ("https://files.pythonhosted.org/packages/aa/bb/numpy-2.0.tar.gz", False),
    ("https://example.org/mirror/gsm_test.jsonl", True),
    # parquet conversion, dataset viewer, datasets server, mirrors
    (f"{HUB}/datasets/openai/gsm8k/resolve/refs%2Fconvert%2Fparquet/main/test/0000.parquet", True),
    (f"{HUB}/datasets/openai/gsm8k/resolve/refs%2Fconvert%2Fparquet/main/train/0000.parquet", False),
    (f"{HUB}/datasets/openai/gsm8k/resolve/refs%2Fconvert%2Fparquet/main/partial-test/0000.parquet", True),
    (f"{HUB}/api/datasets/openai/gsm8k/tree/refs%2Fconvert%2Fparquet/main", False),
    (f"{HUB}/api/datasets/openai/gsm8k/parquet", False),
    (f"{HUB}/api/datasets/openai/gsm8k/parquet/main/test", True),
    (f"{HUB}/api/datasets/openai/gsm8k/parquet/main/train/0.parquet", False),
    (f"{HUB}/datasets/openai/gsm8k/viewer/main/test", True),
    (f"{HUB}/datasets/openai/gsm8k/embed/viewer/main/test?row=10", True),
    (f"{HUB}/datasets/openai/gsm8k/viewer/main/train", False),
    ("https://datasets-server.huggingface.co/first-rows?dataset=openai/gsm8k&config=main&split=test", True),
    ("https://datasets-server.huggingface.co/search?dataset=openai%2Fgsm8k&config=main&split=test&query=x", True),
    ("https://datasets-server.huggingface.co/parquet?dataset=openai/gsm8k", False),
    ("https://hf-mirror.com/datasets/openai/gsm8k/resolve/main/main/test-00000-of-00001.parquet", True),
    ("https://hf-mirror.com/datasets/AI-ModelScope/gsm8k/resolve/main/main/test-00000-of-00001.parquet", True),
    (f"{HUB}/datasets/AI-ModelScope/gsm8k/resolve/main/main/test-00000-of-00001.parquet", False),
    ("https://www.modelscope.cn/api/v1/datasets/modelscope/gsm8k/repo?Revision=master&FilePath=main/test.jsonl", True),
    ("https://www.modelscope.cn/api/v1/datasets/modelscope/gsm8k/repo?Revision=master&FilePath=main/train.jsonl", False),
])
def test_requests_flagged_by_name(tmp_path, task, url, flagged):
    b = RunBuilder(tmp_path / "run", task)
    b.event("net.request", flow_id="f1", method="GET", url=url)
    b.close()
    found = replay(b.rd.path, make_policy(), task).findings
    assert bool(found) == flagged, found


def test_blocked_request_still_flagged(tmp_path, task):
    b = RunBuilder(tmp_path / "run", task)
    b.event("net.blocked", url=f"{HUB}/datasets/openai/gsm8k/resolve/main/main/test-0.parquet", rule="deny")
    b.close()
    (f,) = replay(b.rd.path, make_policy(), task).findings
    assert f.evidence[0]["blocked"] is True


def test_task_without_allowed_splits_flags_train(tmp_path, bench_dir):
    from ptaudit.core.task import load_task

    toml = (bench_dir / "task.toml").read_text().replace('allowed_splits = ["train"]', "allowed_splits = []")
    (tmp_path / "bfcl.toml").write_text(toml.replace('"gsm_test.jsonl"', f'"{bench_dir}/gsm_test.jsonl"'))
    t = load_task(tmp_path / "bfcl.toml")
    b = RunBuilder(tmp_path / "run", t)
    b.event("net.request", url=f"{HUB}/datasets/openai/gsm8k/resolve/main/train-00000.parquet")
    b.close()
    assert len(replay(b.rd.path, make_policy(), t).findings) == 1


def test_reading_the_test_set_and_generating_overlapping_data(tmp_path, task, test_rows):
    b = RunBuilder(tmp_path / "run", task)
    b.event("proc.open", path="/mnt/eval/gsm_test.jsonl", flags=0, pid=42)
    b.event("proc.exec", argv=["cp", "/mnt/eval/gsm_test.jsonl", "/tmp/x"], pid=43, ppid=1)
    b.event("proc.open", path="/workspace/gsm_test.jsonl.bak", flags=0, pid=44)
    gen = "\n".join(f"Q: {r['question']}\nA: let me think." for r in test_rows[:5])
    b.write_file("generated/synthetic.txt", gen.encode())
    b.close()
    found = replay(b.rd.path, make_policy(), task).findings
    kinds = sorted(f.evidence[0].get("kind", "content") for f in found)
    assert kinds == ["content", "proc.exec", "proc.open"]
