"""report.html: self-contained, escaped, linked, bounded."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ptaudit.app.report import build_report, render_html, write_reports
from tests.report.runs import HOSTILE_URL, make_audit_run, make_big_run, run_report


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = make_audit_run(tmp_path_factory.mktemp("h") / "run", hostile=True, lost=1)
    _, hp = write_reports(run)
    return run, hp.read_text()


def test_hostile_strings_are_escaped(page: tuple[Path, str]) -> None:
    _, html = page
    assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
    assert html.count("<script") == 1  # ours only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "POST&lt;b&gt;" in html and "echo &#x27;&lt;script&gt;alert(3)" in html
    assert HOSTILE_URL not in html


def test_self_contained_no_fetches(page: tuple[Path, str]) -> None:
    _, html = page
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attr.startswith("#") or re.fullmatch(r"blobs/[0-9a-f]{2}/[0-9a-f]{64}", attr), attr
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_findings_link_to_events_and_blobs(page: tuple[Path, str]) -> None:
    run, html = page
    d = build_report(run).data
    for f in d["findings"]:
        for item in f["evidence"]:
            assert f'href="#e-{item["seq"]}"' in html and f'id="e-{item["seq"]}"' in html
    leak = next(f for f in d["findings"] if f["category"] == "test_set_leakage")
    sha = leak["evidence"][1]["sha256"]
    assert f'href="blobs/{sha[:2]}/{sha}"' in html and (run / "blobs" / sha[:2] / sha).is_file()
    assert 'id="f-0"' in html and 'href="#f-0"' in html  # timeline diamond -> finding
    for section in ("s-timeline", "s-findings", "s-flows", "s-files", "s-resources", "s-processes", "s-events"):
        assert f'id="{section}"' in html
    assert "python train.py --epochs 3" in html and "out/model.safetensors" in html  # who wrote what
    assert "Lossy run" in html


def test_html_output_elsewhere_links_blobs_relative(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run")
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    p = run_report(str(run), "--format", "html", "--output", str(out))
    assert p.returncode == 1 and "html report written" in p.stdout
    assert 'href="../run/blobs/' in out.read_text()
    assert render_html(build_report(run)) == render_html(build_report(run))  # deterministic too


def test_big_run_stays_bounded(tmp_path: Path) -> None:
    run = make_big_run(tmp_path / "run", 100_000)
    t = time.monotonic()
    jp, hp = write_reports(run)
    elapsed = time.monotonic() - t
    assert hp.stat().st_size < 2_500_000 and jp.stat().st_size < 200_000
    html = hp.read_text()
    assert "more flows not shown" in html and "downsampled" in html
    assert elapsed < 30


def test_processes_table_shows_failed_exits(page: tuple[Path, str]) -> None:
    # exit statuses come from the trace sink's proc.exit {exit_status}, read through ProcTree
    _, html_text = page
    section = html_text[html_text.index('id="s-processes"'):]
    row = next(r for r in section.split("<tr>") if "train.py" in r)
    assert '<td class="bad">1</td>' in row
