"""A real browser renders report.html: headless Chromium, no network (Debian `chromium`)."""

from __future__ import annotations

import re
from pathlib import Path

from ptaudit.app.report import write_reports
from tests.report.runs import make_audit_run
from tests.support import chromium


def test_chromium_renders_verdict_and_findings(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run", hostile=True)
    _, hp = write_reports(run)
    url = hp.resolve().as_uri()
    dom = chromium(tmp_path, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    assert "FAIL" in text and "download of model Qwen/Qwen2.5-7B-Instruct (blocked)" in text
    assert "test split of gsm8k fetched" in text
    assert dom.stdout.count("<script") == 1  # the hostile URL stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout

    png = tmp_path / "shot.png"
    shot = chromium(tmp_path, url, f"--screenshot={png}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a blank page compresses to a few KiB
