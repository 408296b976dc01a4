"""report.json: determinism, the verdict rule, stats, attribution, fail-closed findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptaudit.app.report import build_report, render_json, resolve_fail_on, verdict, write_reports
from ptaudit.core.errors import InputError
from ptaudit.core.verify import verify_run
from tests.report.runs import make_audit_run, run_report


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audit_run(tmp_path_factory.mktemp("r") / "run", lost=3, grade={"score": 0.42})


def test_json_is_byte_identical_across_calls(run: Path) -> None:
    a = run_report(str(run), "--format", "json")
    b = run_report(str(run), "--format", "json")
    assert a.returncode == b.returncode == 1, a.stderr  # a high finding at fail_on=high
    assert a.stdout == b.stdout
    data = json.loads(a.stdout)
    assert data["report_version"] == 1 and data["verdict"] == "fail"
    assert list(data) == sorted(data)
    assert render_json(build_report(run)).decode() == a.stdout


def test_report_json_schema_and_stats(run: Path) -> None:
    d = build_report(run).data
    for key in ("report_version", "run_id", "verdict", "task", "policy", "findings", "stats", "lossy", "grade",
                "verify", "events", "run"):
        assert key in d
    assert [f["severity"] for f in d["findings"]] == ["high", "medium", "info"]
    f = d["findings"][0]
    assert set(f) >= {"id", "rule", "category", "severity", "message", "action", "subject", "evidence"}
    assert all("seq" in e for e in f["evidence"])
    assert {str(e["seq"]) for e in f["evidence"]} <= set(d["events"])
    st = d["stats"]
    assert (st["flows"], st["requests_blocked"], st["processes"]) == (3, 1, 2)
    assert st["files_written"] == 3 and st["files_deleted"] == 1
    assert st["bytes_in"] == 440 + 36 and st["bytes_out"] == 25  # request bodies, from net.response
    assert st["findings_by_category"] == {"checkpoint_download": 1, "test_set_leakage": 1, "budget": 1}
    assert st["findings_by_severity"]["high"] == 1 and st["findings_by_severity"]["critical"] == 0
    assert st["events_lost"] == 3 and d["lossy"] is True
    assert st["events_by_kind"]["some.future_kind"] == 1  # unknown kinds are counted, not fatal
    assert d["grade"] == {"score": 0.42}
    assert d["verify"]["ok"] and d["verify"]["records"] == st["events"] and d["verify"]["blobs_checked"] == 3
    assert d["policy"]["fail_on"] == "high" and d["policy"]["fail_on_source"] == "default"


@pytest.mark.parametrize(("severities", "fail_on", "expected"), [
    ([], "high", "pass"),
    (["info", "low", "medium"], "high", "pass"),
    (["info", "high"], "high", "fail"),
    (["critical"], "high", "fail"),
    (["medium"], "medium", "fail"),
    (["low"], "info", "fail"),
    (["high"], "critical", "pass"),
])
def test_verdict_rule(severities: list[str], fail_on: str, expected: str) -> None:
    assert verdict([{"severity": s} for s in severities], fail_on) == expected


def test_fail_on_sources() -> None:
    assert resolve_fail_on({"fail_on": "low"}, "critical") == ("low", "run.start")
    assert resolve_fail_on({}, "medium") == ("medium", "argument")
    assert resolve_fail_on({"fail_on": "bogus"}, None) == ("high", "default")
    with pytest.raises(InputError, match="not a severity"):
        resolve_fail_on({}, "severe")


def test_pass_run_and_fail_on_option(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run", severity="medium")
    p = run_report(str(run), "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["verdict"] == "pass"
    p = run_report(str(run), "--format", "json", "--fail-on", "medium")
    assert p.returncode == 1 and json.loads(p.stdout)["policy"]["fail_on_source"] == "argument"


def test_write_reports_leaves_the_log_verifiable(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run")
    jp, hp = write_reports(run, "high")
    assert jp == run / "report.json" and hp == run / "report.html"
    assert json.loads(jp.read_text())["verdict"] == "fail" and hp.stat().st_size > 5000
    assert verify_run(run).ok


def test_findings_come_from_the_log_and_an_edited_findings_file_is_caught(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path / "run", severity="low")
    from ptaudit.core.rundir import RunDir

    RunDir(run).seal_artifacts()  # as ptaudit run does at the end
    with open(run / "findings.jsonl", "a") as fh:  # someone "adds" or edits findings afterwards
        fh.write('{"id": "x", "severity": "apocalyptic"}\nnot json\n')
    d = build_report(run).data
    assert [f["severity"] for f in d["findings"]] == ["medium", "low", "info"]  # the log's, untouched
    assert d["verify"]["ok"] is False and "findings.jsonl" in d["verify"]["problem"]
    assert d["verdict"] == "incomplete" and "does not verify" in d["verdict_reason"]


def test_findings_from_the_log_are_merged_and_deduplicated(tmp_path: Path) -> None:
    from ptaudit.core.session import RunSession
    from tests.report.runs import finding

    out = tmp_path / "run"
    with RunSession.create(out, command=["true"]) as s:
        ev = s.emit("net", "net.request", {"flow": 1, "url": "https://x.test/a"})
        f = finding("00000000000000aa", "net.x", "unauthorized_api", "critical", "to x.test", "https://x.test/a",
                    [{"seq": ev.seq}])
        s.emit("detector", "detector.finding", {"finding": f})
        s.emit("detector", "detector.finding", {"finding": f})
        s.emit("detector", "detector.finding", {"nothing": 1})
    d = build_report(out).data
    assert [x["id"] for x in d["findings"]] == ["00000000000000aa"]
    assert d["verdict"] == "fail" and str(ev.seq) in d["events"]


def test_file_writes_are_attributed_to_their_command_line(run: Path) -> None:
    s = build_report(run).scan
    assert s.files["out/model.safetensors"].writer == "python train.py --epochs 3"
    assert s.files["notes.txt"].writer == "bash agent.sh"
    assert s.files["tmp/cache.bin"].writer is None and s.files["tmp/cache.bin"].deleted


def test_not_a_run_directory_is_a_user_error(tmp_path: Path) -> None:
    p = run_report(str(tmp_path))
    assert p.returncode == 2 and "not a run directory" in p.stderr and "Traceback" not in p.stderr
