"""The terminal report (plain text when piped)."""

from __future__ import annotations

from pathlib import Path

from tests.report.runs import make_audit_run, run_report


def test_text_report_has_verdict_counts_and_evidence(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run", lost=2)
    p = run_report(str(run))
    assert p.returncode == 1, p.stderr
    out = p.stdout
    assert out.splitlines()[0].startswith(" FAIL ")
    assert "\x1b[" not in out  # piped: no colour codes
    assert "download of model Qwen/Qwen2.5-7B-Instruct (blocked)" in out
    assert "test split of gsm8k fetched" in out
    assert "by severity: critical 0  high 1  medium 1  low 0  info 1" in out
    assert "checkpoint_download 1" in out
    assert "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/resolve/main/model.safetensors" in out
    assert "items=['gsm8k/test/17']" in out and "sha256=f70d6335670d9197" in out
    assert "lossy run" in out and "2 events lost" in out
    assert "log: verified" in out


def test_text_report_to_file(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run", severity="low")
    p = run_report(str(run), "--output", str(tmp_path / "r.txt"))
    assert p.returncode == 0
    text = (tmp_path / "r.txt").read_text()
    assert text.startswith(" PASS ") and "log: verified" in text


def test_tampered_log_is_reported(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run", severity="low")
    ev = run / "events.jsonl"
    ev.write_bytes(ev.read_bytes().replace(b"train.py", b"evil.py", 1))
    p = run_report(str(run))
    assert "VERIFICATION FAILED" in p.stdout and "edited" in p.stdout
