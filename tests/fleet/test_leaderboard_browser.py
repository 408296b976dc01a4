"""A real browser renders the fleet's leaderboard.html: headless Chromium, no network."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow.parquet as pq

from tests.support import chromium, run_ptaudit


def _rows(dom: str, table: str) -> list[str]:
    body = dom.split(f'<table id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)


def test_chromium_renders_sorts_and_links(scenario: Any, tmp_path: Path) -> None:
    _, store = scenario
    out = tmp_path / "results"
    r = run_ptaudit("fleet", "collect", str(store.root), "--output", str(out), "--on-fail", "flag")
    assert r.returncode == 1, r.stderr
    page = out / "leaderboard.html"
    dom = chromium(tmp_path, page.resolve().as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
    assert "ptaudit fleet scenario" in text and "12 runs planned, 10 counted" in text
    assert "on_fail = flag" in text and "Attempts not counted" in text
    assert "report.json does not match its verified log" in text and "partial: job killed (test)" in text
    # every run link resolves to that run's report.html
    hrefs = set(re.findall(r'href="([^"#]+report\.html)"', html))
    assert len(hrefs) == 10
    for h in hrefs:
        assert (out / unquote(h)).resolve().is_file(), h
    # findings by category as small bars: one titled bar per category seen, in both tables
    assert html.count("<title>checkpoint_download:") == len(_rows(html, "board")) + len(_rows(html, "runs"))
    assert html.count("<script") == 1

    # the page's own script sorts: runs by score, ascending, runs without a score last
    dom = chromium(tmp_path, page.resolve().as_uri() + "#sort=runs:score:asc", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    keys = [re.search(r'data-v="([^"]+)"', row).group(1) for row in _rows(dom.stdout, "runs")]
    scores = {row["key"]: row["score"] for row in pq.read_table(out / "runs.parquet").to_pylist()}
    scored = sorted((k for k in scores if scores[k] is not None), key=lambda k: scores[k])
    assert [scores[k] for k in keys[: len(scored)]] == [scores[k] for k in scored]
    assert all(scores[k] is None for k in keys[len(scored):])
    assert 'class="sorted-asc"' in dom.stdout

    png = tmp_path / "shot.png"
    shot = chromium(tmp_path, page.resolve().as_uri(), f"--screenshot={png}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 40_000
