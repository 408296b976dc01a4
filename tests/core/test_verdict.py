"""Never a silent pass: the one verdict rule (ptaudit.core.verdict), and report, replay and
verify agreeing on it for every kind of run directory an unfinished audit leaves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ptaudit.core.rundir import RunDir
from ptaudit.core.session import RunSession
from ptaudit.core.verdict import AuditFacts, decide
from ptaudit.core.verify import verify_run
from tests.support import invoke, make_run, run_ptaudit

OK = {"sealed": True, "end_reason": "agent_exit", "verified": True}
HIGH = [{"severity": "high", "category": "checkpoint_download", "message": "m"}]
FAULT = [{"severity": "high", "category": "monitor_fault", "message": "detector crashed"}]


@pytest.mark.parametrize(("facts", "findings", "verdict", "reason"), [
    (OK, [], "pass", None),
    (OK, HIGH, "fail", None),
    ({**OK, "end_reason": "time_limit"}, [], "pass", None),
    ({**OK, "end_reason": "policy_kill: net.x"}, [], "pass", None),
    ({**OK, "sealed": False, "end_reason": None}, [], "incomplete", "never sealed"),
    ({**OK, "sealed": False, "end_reason": None}, HIGH, "fail", "never sealed"),  # proven violation stands
    ({**OK, "verified": False, "verify_problem": "seq 3: edited"}, HIGH, "incomplete", "does not verify"),
    ({**OK, "end_reason": "interrupted"}, [], "incomplete", "interrupted"),
    ({**OK, "end_reason": "error: boom"}, [], "incomplete", "error: boom"),
    ({**OK, "end_reason": None}, [], "incomplete", "no end reason"),
    ({**OK, "events_lost": 3}, [], "incomplete", "lossy run: 3 events lost"),
    ({**OK, "events_lost": 3, "accept_lossy": True}, [], "pass", None),
    ({**OK, "content_lost": 1}, [], "incomplete", "bodies or files not stored"),
    ({**OK, "monitors_failed": ["FsWatch: died"]}, [], "incomplete", "monitor was lost: FsWatch"),
    ({**OK, "monitors_failed": ["FsWatch: died"], "accept_lossy": True}, [], "incomplete", "FsWatch"),
    ({**OK, "agent_exit": 127}, [], "incomplete", "could not be run"),
    ({**OK, "proxy_started": True}, [], "incomplete", "proxy never stopped"),
    ({**OK, "proxy_started": True, "proxy_stopped": True}, [], "pass", None),
    (OK, FAULT, "incomplete", "audit fault: detector crashed"),
    (OK, [{"severity": "low", "category": "monitor_fault", "message": "x"}], "pass", None),
])
def test_the_verdict_rule(facts: dict, findings: list, verdict: str, reason: str | None) -> None:
    v = decide(findings, "high", AuditFacts(**facts))
    assert v.verdict == verdict, v
    assert v.exit_code == {"pass": 0, "fail": 1, "incomplete": 3}[verdict]
    if reason is None:
        assert v.reasons == ()
    else:
        assert reason in v.reasons[0], v.reasons


def test_facts_read_from_events() -> None:
    f = AuditFacts()
    for kind, data in [("run.start", {"accept_lossy": True}), ("monitor.events_lost", {"count": -1}),
                       ("monitor.events_lost", {"count": 2}), ("monitor.failed", {"monitor": "FsWatch"}),
                       ("net.response", {"body": {"store_error": "OSError: No space left on device"}}),
                       ("fs.write", {"path": "a", "store_error": "x"}), ("sandbox.exit", {"exit_code": 127}),
                       ("monitor.status", {"monitor": "TraceSink", "healthy": False, "detail": "dead"}),
                       ("monitor.events_lost", {"count": "garbage"})]:
        f.feed(kind, data)
    assert f.accept_lossy and f.loss_unknown and f.events_lost == 2 and f.content_lost == 2
    assert f.agent_exit == 127 and len(f.monitors_failed) == 2


# -- report, replay and verify agree ---------------------------------------------------------
def _verbs(run: Path) -> dict[str, tuple[int, str]]:
    rep = invoke("report", str(run), "--format", "json")
    rp = invoke("replay", str(run), "--policy", "default", "--format", "json")
    v = invoke("verify", str(run))
    out = {"report": (rep.returncode, json.loads(rep.stdout)["verdict"] if rep.stdout else rep.stderr),
           "replay": (rp.returncode, json.loads(rp.stdout)["verdict"] if rp.stdout else rp.stderr),
           "verify": (v.returncode, v.stdout)}
    return out


def _sealed_clean(out: Path) -> Path:
    with RunSession.create(out, command=["true"]) as s:
        s.emit("sandbox", "sandbox.exit", {"exit_code": 0})
    return out


def test_verbs_agree_on_a_clean_run(tmp_path: Path) -> None:
    v = _verbs(_sealed_clean(tmp_path / "run"))
    assert v["report"] == (0, "pass") and v["replay"] == (0, "pass") and v["verify"][0] == 0, v


def test_verbs_agree_on_an_unsealed_run_of_a_killed_ptaudit(tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = RunSession.create(out, command=["true"])
    s.emit("fs", "fs.write", {"path": "a", "size": 1})
    s.recorder.stop()
    s.log.close()  # ptaudit is SIGKILLed here: no run.end, no seal
    v = _verbs(out)
    assert v["report"] == (3, "incomplete") and v["replay"] == (3, "incomplete"), v
    assert v["verify"][0] == 3 and "chain intact" in v["verify"][1] and "never sealed" in v["verify"][1]


@pytest.mark.parametrize("end_reason", ["error: the audit proxy (mitmdump) failed to start: exit 1", "interrupted",
                                        "log_write_failed: events.jsonl could not be written (disk full)"])
def test_verbs_agree_on_runs_that_ended_abnormally(tmp_path: Path, end_reason: str) -> None:
    out = tmp_path / "run"
    s = RunSession.create(out, command=["true"])
    s.close(exit_status=3, reason=end_reason)
    v = _verbs(out)
    assert v["report"] == (3, "incomplete") and v["replay"] == (3, "incomplete") and v["verify"][0] == 3, v
    p = invoke("report", str(out))
    assert p.stdout.split("\n")[0].split()[0] == "INCOMPLETE" and end_reason[:30] in p.stdout.split("\n")[0]


def test_replay_verifies_first_truncated_log_and_missing_blob(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", events=[("fs", "fs.write", {"path": f"f{i}"}) for i in range(5)],
                   blobs=[b"body one", b"body two"])
    cut = tmp_path / "cut"
    shutil.copytree(run, cut)
    lines = (cut / "events.jsonl").read_bytes().splitlines(keepends=True)
    (cut / "events.jsonl").write_bytes(b"".join(lines[:-3]))
    p = invoke("replay", str(cut), "--policy", "default")
    assert p.returncode == 3 and "verdict incomplete: the log does not verify" in p.stdout and "truncated" in p.stdout
    gone = tmp_path / "gone"
    shutil.copytree(run, gone)
    blob = next(x for x in (gone / "blobs").rglob("*") if x.is_file())
    blob.unlink()
    p = invoke("replay", str(gone), "--policy", "default", "--format", "json")
    assert p.returncode == 3 and json.loads(p.stdout)["verdict"] == "incomplete", p.stdout
    assert "missing_blob" in json.loads(p.stdout)["verdict_reason"]


def test_every_trusted_artifact_is_sealed_and_checked(tmp_path: Path) -> None:
    run = _sealed_clean(tmp_path / "run")
    (run / "report.json").write_text("{}\n")
    assert verify_run(run).unsealed == ["report.json"]  # present, not vouched for: a warning
    RunDir(run).seal_artifacts()
    res = verify_run(run)
    assert res.ok and res.artifacts_checked == 1 and res.unsealed == []
    (run / "report.json").write_text('{"verdict": "pass"}\n')
    p = invoke("verify", str(run))
    assert p.returncode == 1 and "changed_artifact" in p.stdout and "report.json" in p.stdout
    (run / "report.json").unlink()
    p = invoke("verify", str(run))
    assert p.returncode == 1 and "missing_artifact" in p.stdout


def test_findings_file_is_sealed_in_the_chain(tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = RunSession.create(out, command=["true"])
    (out / "findings.jsonl").write_text('{"id": "a"}\n')
    s.close(exit_status=0, reason="agent_exit")
    end = json.loads((out / "events.jsonl").read_text().splitlines()[-1])
    assert end["kind"] == "run.end" and set(end["data"]["artifacts"]) == {"findings.jsonl"}
    assert json.loads((out / "manifest.json").read_text())["artifacts"]["findings.jsonl"] == \
        end["data"]["artifacts"]["findings.jsonl"]


# -- verify --head, exit codes, garbage manifests ----------------------------------------------
def test_verify_head_accepts_the_printed_prefix(tmp_path: Path) -> None:
    run = _sealed_clean(tmp_path / "run")
    head = verify_run(run).head
    for given in (head, head[:16], head[:16].upper()):
        p = invoke("verify", str(run), "--head", given)
        assert p.returncode == 0, p.stdout + p.stderr
    p = invoke("verify", str(run), "--head", ("0" if head[0] != "0" else "1") + head[1:16])
    assert p.returncode == 1 and "rechained" in p.stdout and head in p.stdout
    for bad in ("xyz", head[:8], head + "00", "g" * 20):
        p = run_ptaudit("verify", str(run), "--head", bad) if bad == "xyz" else invoke("verify", str(run), "--head", bad)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--head" in p.stderr, (bad, p.stderr)


GARBAGE = [b"not json", b"[]", b"{}", b'{"run_id": 5, "started": []}', b'{"run_id": "x", "started": "y", "sealed": "maybe"}',
           b'{"run_id": "x", "started": "y", "log": {"count": "many"}}', b"\xff\xfe\x00", b"",
           b'{"run_id": "x", "started": "y", "artifacts": {"a": 1}}', b"[" * 100_000]


def test_garbage_manifest_is_one_line_exit_2_everywhere(tmp_path: Path) -> None:
    run = _sealed_clean(tmp_path / "run")
    for i, raw in enumerate(GARBAGE):
        (run / "manifest.json").write_bytes(raw)
        for args in (("verify", str(run)), ("report", str(run)), ("replay", str(run), "--policy", "default")):
            p = run_ptaudit(*args) if i == 0 else invoke(*args)  # one through a real process too
            assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, (args, raw[:40], p.stderr[-500:])
            assert "manifest.json" in p.stderr and "Traceback" not in p.stderr
