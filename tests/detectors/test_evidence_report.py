"""Leakage evidence in all three report formats: the item beside the text found, the common
span marked, the decoding path and the raw byte offset; report.json byte-stable."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

from conftest import RunBuilder, make_policy
from gsm_synth import benign_math

from detectors.engine import replay


def _run_with_leak(tmp_path: Path, task, test_rows) -> tuple[Path, bytes]:  # type: ignore[no-untyped-def]
    pad = "".join(json.dumps({"text": t}) + "\n" for t in benign_math(60, seed=4).split("\n\n")).encode()
    inner = pad + json.dumps({"id": 1, "text": "Q: " + test_rows[2]["question"] + " A: 42"}).encode() + b"\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("train.jsonl.gz", gzip.compress(inner))
    b = RunBuilder(tmp_path / "run", task)
    b.write_file("data.zip", buf.getvalue())
    b.close()
    found = replay(b.rd.path, make_policy(max_excerpts=3), task).findings
    b.record(found)
    return b.rd.path, inner


def test_evidence_has_item_excerpt_path_and_offset(tmp_path, task, test_rows) -> None:
    run, inner = _run_with_leak(tmp_path, task, test_rows)
    (f,) = replay(run, make_policy(max_excerpts=3), task).findings
    (m,) = [e for e in f.evidence if "match" in e]
    line = inner[: m["offset"]].count(b"\n") + 1
    assert m["path"] == ["data.zip", "train.jsonl.gz", f"line {line:,}", 'field "text"']
    q = test_rows[2]["question"]
    assert inner[m["offset"]:].startswith(q[:30].encode())
    s, e = m["span"]
    assert m["excerpt"][s:e].startswith(q[:30]) and m["excerpt"][:s].endswith("Q: ")
    assert m["item_text"] == q and m["item_span"][0] == 0 and m["item_span"][1] >= len(q) - 1


def test_reports_show_the_span_side_by_side(tmp_path, task, test_rows) -> None:
    from tests.support import run_ptaudit

    run, _ = _run_with_leak(tmp_path, task, test_rows)
    q = test_rows[2]["question"]
    p = run_ptaudit("report", str(run))
    assert p.returncode == 1, p.stderr
    assert "match s7-2" in p.stdout and "data.zip › train.jsonl.gz › line" in p.stdout
    assert "«" + q[:40] in p.stdout.replace("\n", " ")
    html = run_ptaudit("report", str(run), "--format", "html", "--output", str(tmp_path / "r.html"))
    assert html.returncode == 1, html.stderr
    page = (tmp_path / "r.html").read_text()
    assert '<div class="side">' in page and "<mark>" + q[:40].replace("'", "&#x27;") in page
    a = run_ptaudit("report", str(run), "--format", "json")
    b = run_ptaudit("report", str(run), "--format", "json")
    assert a.stdout == b.stdout  # byte-stable
    [leak] = [x for x in json.loads(a.stdout)["findings"] if x["category"] == "test_set_leakage"]
    assert any(e.get("match") == test_rows[2]["id"] for e in leak["evidence"])
