"""Chain verification catches each kind of tampering, and tells a crash from tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptaudit.core.events import encode_line
from ptaudit.core.verify import verify_run
from tests.support import make_run, run_ptaudit


@pytest.fixture
def run(tmp_path: Path) -> Path:
    events = [("fs", "fs.write", {"path": f"f{i}.txt", "size": i}) for i in range(8)]
    return make_run(tmp_path / "run", events=events, blobs=[b"hello body", b"second"])


def _lines(run: Path) -> list[bytes]:
    return (run / "events.jsonl").read_bytes().splitlines(keepends=True)


def _write(run: Path, lines: list[bytes]) -> None:
    (run / "events.jsonl").write_bytes(b"".join(lines))


def test_intact_run_verifies_and_cli_exits_0(run: Path) -> None:
    res = verify_run(run)
    assert res.ok and res.sealed and res.blobs_checked == 2
    p = run_ptaudit("verify", str(run))
    assert p.returncode == 0, p.stderr
    assert "OK" in p.stdout and f"{res.records} records" in p.stdout


def test_edited_line_is_named(run: Path) -> None:
    lines = _lines(run)
    lines[5] = lines[5].replace(b'"size":', b'"size":1')
    _write(run, lines)
    p = run_ptaudit("verify", str(run))
    assert p.returncode == 1
    assert "seq 5: edited" in p.stdout


def test_deleted_line_is_named(run: Path) -> None:
    lines = _lines(run)
    del lines[4]
    _write(run, lines)
    p = run_ptaudit("verify", str(run))
    assert p.returncode == 1
    assert "seq 4: deleted" in p.stdout


def test_swapped_lines_are_reordered(run: Path) -> None:
    lines = _lines(run)
    lines[3], lines[4] = lines[4], lines[3]
    _write(run, lines)
    p = run_ptaudit("verify", str(run))
    assert p.returncode == 1
    assert "seq 3: reordered" in p.stdout


def test_truncated_sealed_log(run: Path) -> None:
    lines = _lines(run)
    _write(run, lines[:-2])
    res = verify_run(run)
    assert not res.ok and res.problems[0].kind == "truncated"
    assert res.problems[0].seq == len(lines) - 2


def test_rechained_log_detected_against_sealed_head(run: Path) -> None:
    # An attacker who edits a record and recomputes every later hash keeps the chain
    # self-consistent; the head sealed in the manifest still gives it away.
    lines = [json.loads(raw) for raw in _lines(run)]
    lines[2]["data"]["size"] = 999
    prev = "0" * 64
    out = []
    for obj in lines:
        raw, prev = encode_line(obj["seq"], obj["ts"], obj["source"], obj["kind"], obj["data"], prev)
        out.append(raw)
    _write(run, out)
    res = verify_run(run)
    assert not res.ok and res.problems[0].kind == "rechained"


def test_missing_and_bad_blob(run: Path) -> None:
    blob = next((run / "blobs").rglob("*"))
    while blob.is_dir():
        blob = next(blob.iterdir())
    blob.write_bytes(b"tampered")
    res = verify_run(run)
    assert res.problems[0].kind == "bad_blob"
    blob.unlink()
    p = run_ptaudit("verify", str(run))
    assert p.returncode == 1 and "missing_blob" in p.stdout


def test_torn_last_line_is_a_crash_not_tampering(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", events=[("fs", "fs.write", {"path": "a"})])
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(sealed=False, log=None)  # the recorder crashed: never sealed
    (run / "manifest.json").write_text(json.dumps(manifest))
    with open(run / "events.jsonl", "ab") as fh:
        fh.write(b'{"seq":99,"ts":1,"source":"fs","kind":"fs.wr')
    res = verify_run(run)
    assert res.ok and res.torn_tail
    p = run_ptaudit("verify", str(run))
    # intact (exit 1 is for tampering), but the audit never completed: exit 3, never a pass
    assert p.returncode == 3 and "torn last line" in p.stdout, p.stdout
    assert "audit: incomplete: the run was never sealed" in p.stdout


def test_not_a_run_directory_is_input_error(tmp_path: Path) -> None:
    p = run_ptaudit("verify", str(tmp_path))
    assert p.returncode == 2
    assert "not a run directory" in p.stderr and "Traceback" not in p.stderr
