"""`ptaudit demo`: the main job on an embedded default, offline, under two minutes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.support import chromium, run_ptaudit


def test_demo_end_to_end(tmp_path: Path) -> None:
    t = time.monotonic()
    p = run_ptaudit("demo", "--dir", str(tmp_path / "demo"), timeout=180)
    elapsed = time.monotonic() - t
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-3000:]  # the demo agent cheats: FAIL, exit 1 (docs/cli.md)
    assert elapsed < 120
    run = tmp_path / "demo" / "run"
    assert "FAIL" in p.stdout and f"HTML report: {run / 'report.html'}" in p.stdout
    rep = json.loads((run / "report.json").read_text())
    assert rep["verdict"] == "fail"
    assert {"test_set_leakage", "checkpoint_download", "unauthorized_api", "api_key_misuse"} <= {
        f["category"] for f in rep["findings"]}
    assert run_ptaudit("verify", str(run)).returncode == 0
    replay = run_ptaudit("replay", str(run), "--policy", "default")
    assert "no difference from the recorded findings" in replay.stdout

    dom = chromium(tmp_path, (run / "report.html").as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    assert "FAIL" in text
    assert any(f["message"] in text for f in rep["findings"] if "<" not in f["message"] and "&" not in f["message"])
    shot = tmp_path / "demo.png"
    assert chromium(tmp_path, (run / "report.html").as_uri(), f"--screenshot={shot}").returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
