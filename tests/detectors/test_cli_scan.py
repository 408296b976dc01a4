"""`ptaudit scan` as a reviewer uses it on a training set they suspect."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.support import run_ptaudit


def test_scan_flags_a_contaminated_archive_and_passes_a_clean_dir(bench_dir: Path, test_rows: list[dict[str, str]],
                                                                  train_rows: list[dict[str, str]],
                                                                  tmp_path: Path) -> None:
    task = str(bench_dir / "task.toml")
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train_rows))
    p = run_ptaudit("scan", str(clean), "--task", task)
    assert p.returncode == 0 and "no findings" in p.stdout, p.stdout + p.stderr

    mixed = "".join(json.dumps({"prompt": r["question"]}) + "\n" for r in train_rows[:50] + test_rows[:7])
    tgz = tmp_path / "sft.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        data = mixed.encode()
        info = tarfile.TarInfo("data/sft.jsonl")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    p = run_ptaudit("scan", str(tgz), "--task", task, "--format", "json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    [f] = [f for f in out["findings"] if f["category"] == "test_set_leakage"]
    ids = {i for e in f["evidence"] for i in e.get("item_ids", e.get("items", []))}
    assert {r["id"] for r in test_rows[:7]} <= ids
    assert "sft.tar.gz" in f["subject"]

    p = run_ptaudit("scan", str(tmp_path / "missing"), "--task", task)
    assert p.returncode == 2 and "no such file" in p.stderr
