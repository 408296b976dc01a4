"""The detector engine: replay determinism and diffs, scan, faults, live tailing."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import ClassVar

from conftest import RunBuilder, make_policy

from detectors.base import REGISTRY, Detector, DetectorContext, register
from detectors.engine import DetectorSet, LiveDetectors, replay, scan_path
from policies.schema import Policy


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _recorded_run(tmp_path, task, test_rows):
    """A run whose live findings were recorded as the orchestrator would."""
    b = RunBuilder(tmp_path / "run", task)
    b.event("net.request", url="https://huggingface.co/datasets/openai/gsm8k/resolve/main/main/test-0.parquet")
    b.write_file("a.jsonl", jsonl(test_rows[:2]))
    b.write_file("b.jsonl", jsonl(test_rows[:30]))
    b.event("detector.finding", id="x")  # fed back by the orchestrator: must be skipped
    b.write_file("b.jsonl", jsonl(test_rows[:60]), kind="fs.final_scan")
    ds = DetectorSet.from_policy(make_policy(), DetectorContext(task=task, blobs=b.rd.blobs))
    from ptaudit.core.runlog import read_events

    for e in list(read_events(b.rd.events_path)):
        b.record(ds.feed(e))  # detector.finding events appended to the log, as live
    b.record(ds.finish())
    b.close()
    return b, ds.findings


def test_replay_reproduces_recorded_findings_exactly(tmp_path, task, test_rows):
    b, live = _recorded_run(tmp_path, task, test_rows)
    res = replay(b.rd.path, make_policy(), task)
    assert [f.id for f in res.findings] == [f.id for f in live]
    assert res.findings == live
    assert res.diff.empty
    b_finding = [f for f in live if f.subject == "b.jsonl"][0]
    assert b_finding.evidence[0]["items_hit"] == 60  # updated at finish with the final scan


def test_replay_with_edited_threshold_shows_diff(tmp_path, task, test_rows):
    b, live = _recorded_run(tmp_path, task, test_rows)
    res = replay(b.rd.path, make_policy(min_items=10), task)
    assert [f.subject for f in res.diff.gone] == ["a.jsonl"]
    assert res.diff.new == [] and res.diff.changed == []
    pol = make_policy().model_dump()
    pol["rules"][0]["severity"] = "critical"
    res = replay(b.rd.path, Policy.model_validate(pol), task)
    assert len(res.diff.changed) == len(live)
    assert all(old.severity == "high" and new.severity == "critical" for old, new in res.diff.changed)


def test_replay_loads_the_task_from_the_manifest(tmp_path, task, test_rows):
    b, live = _recorded_run(tmp_path, task, test_rows)
    assert replay(b.rd.path, make_policy()).findings == live


def test_scan_directory_and_archive(tmp_path, task, test_rows, train_rows):
    d = tmp_path / "suspect"
    (d / "sub").mkdir(parents=True)
    (d / "clean.jsonl").write_bytes(jsonl(train_rows))
    (d / "sub" / "mix.jsonl").write_bytes(jsonl(train_rows[:5] + test_rows[:7]))
    found = scan_path(d, task, make_policy())
    assert [(f.subject, f.evidence[0]["items_hit"]) for f in found] == [("sub/mix.jsonl", 7)]
    data = (d / "sub" / "mix.jsonl").read_bytes()
    assert found[0].evidence[1]["offset"] == data.index(test_rows[0]["question"][:30].encode())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        t.add(d / "sub" / "mix.jsonl", arcname="data/mix.jsonl")
    (tmp_path / "suspect.tar.gz").write_bytes(buf.getvalue())
    (f,) = scan_path(tmp_path / "suspect.tar.gz", task, make_policy())
    assert f.evidence[1]["where"] == "suspect.tar!data/mix.jsonl"


class Boom(Detector):
    name = "test-boom"
    calls: ClassVar[int] = 0

    def on_event(self, event):
        Boom.calls += 1
        raise RuntimeError("kaput")


def test_crashing_detector_becomes_monitor_fault_and_audit_goes_on(tmp_path, task, test_rows):
    if "test-boom" not in REGISTRY:
        register(Boom)
    pol = make_policy().model_dump()
    pol["rules"].insert(0, {"id": "boom", "detector": "test-boom", "severity": "low"})
    b = RunBuilder(tmp_path / "run", task)
    b.write_file("x.jsonl", jsonl(test_rows[:3]))
    b.write_file("y.jsonl", jsonl(test_rows[:3]))
    b.close()
    Boom.calls = 0
    res = replay(b.rd.path, Policy.model_validate(pol), task)
    cats = [f.category for f in res.findings]
    assert cats == ["monitor_fault", "test_set_leakage", "test_set_leakage"]
    assert "kaput" in res.findings[0].message and res.findings[0].rule == "boom"
    assert Boom.calls == 1  # disabled after the first failure


def test_bad_params_at_construction_are_a_fault_not_a_crash(task):
    ds = DetectorSet.from_policy(make_policy(anchor=40, char_window=30), DetectorContext(task=task))
    (f,) = ds.findings
    assert f.category == "monitor_fault" and "anchor" in f.message


def test_live_detectors_tail_the_log(tmp_path, task, test_rows):
    b = RunBuilder(tmp_path / "run", task)
    seen = []

    def on_finding(f):
        seen.append(f)
        if not b.log.closed:
            b.event("detector.finding", id=f.id)  # what the orchestrator does

    live = LiveDetectors(b.rd.path, make_policy(), DetectorContext(task=task), on_finding, poll=0.01)
    live.start()
    b.write_file("leak.jsonl", jsonl(test_rows[:4]))
    deadline = time.time() + 10
    while not seen and time.time() < deadline:
        time.sleep(0.02)
    b.event("proc.open", path="/data/gsm_test.jsonl", pid=1)
    final = live.stop(timeout=10)
    b.close()
    assert [f.category for f in final] == ["test_set_leakage"] * 2
    assert seen == final
    assert replay(b.rd.path, make_policy(), task).findings == final
