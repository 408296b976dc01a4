"""The detector engine: replay determinism and diffs, scan, faults, live tailing."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import ClassVar

from detectors.base import REGISTRY, Detector, DetectorContext, register
from detectors.engine import DetectorSet, LiveDetectors, replay, scan_path
from policies.schema import Policy
from ptaudit.core.events import FileState, ProcOpen
from ptaudit.core.runlog import read_events
from tests.detectors.conftest import RunBuilder, make_policy


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


class Seen(Detector):
    """Records the kinds it is given (the routing tests)."""

    name = "test-seen"
    log: ClassVar[dict[str, list[str]]] = {}

    def on_event(self, event):
        Seen.log.setdefault(self.rule.id, []).append(event.kind)
        return ()


class SeenByName(Seen):
    name = "test-seen-names"
    kinds = ("net.request", "custom.kind")


class SeenByModel(Seen):
    name = "test-seen-models"
    kinds = (FileState, ProcOpen)


def test_detectors_see_only_the_kinds_they_declare(tmp_path):
    for cls in (Seen, SeenByName, SeenByModel):
        if cls.name not in REGISTRY:
            register(cls)
    pol = Policy.model_validate({"version": 1, "name": "t", "rules": [
        {"id": "all", "detector": "test-seen", "severity": "low"},
        {"id": "names", "detector": "test-seen-names", "severity": "low"},
        {"id": "models", "detector": "test-seen-models", "severity": "low"}]})
    b = RunBuilder(tmp_path / "run")
    for kind, data in [("net.request", {"method": "GET", "url": "https://x.test/", "host": "x.test"}),
                       ("fs.write", {"path": "a"}), ("fs.final_scan", {"path": "a"}), ("fs.create", {"path": "a"}),
                       ("proc.open", {"path": "/w/a"}), ("proc.exit", {"pid": 1}), ("custom.kind", {"v": 1}),
                       ("detector.finding", {"id": "x"}), ("proc.open", {"path": 5})]:
        b.event(kind, **data)
    b.close()
    for route in (True, False):
        Seen.log = {}
        ds = DetectorSet.from_policy(pol, DetectorContext(), route=route)
        for e in read_events(b.rd.events_path):
            ds.feed(e)
        every = ["net.request", "fs.write", "fs.final_scan", "fs.create", "proc.open", "proc.exit", "custom.kind"]
        assert Seen.log["all"] == every  # detector.* never; the invalid proc.open reaches nobody
        assert Seen.log["names"] == (["net.request", "custom.kind"] if route else every)
        assert Seen.log["models"] == (["fs.write", "fs.final_scan", "proc.open"] if route else every)
        # a payload that does not fit its model is a finding whoever reads the kind
        assert [f.rule for f in ds.findings] == ["audit.event-data"]


def test_routing_changes_no_finding(tmp_path, task, test_rows):
    """Replay with routing by kind equals replay giving every detector every event, on a
    run that exercises the shipped policy's detectors."""
    from detectors import load_policy
    from policies import resolve

    b = RunBuilder(tmp_path / "run", task)
    b.event("sandbox.honeytokens", tokens=[])
    b.event("net.request", method="GET", url="https://huggingface.co/datasets/openai/gsm8k/resolve/main/test.parquet",
            host="huggingface.co")
    b.event("net.request", method="POST", url="https://api.openai.com/v1/chat/completions", host="api.openai.com")
    b.event("net.placeholder_seen", host="pastebin.com", url="https://pastebin.com/api", where="header")
    b.response("https://huggingface.co/org/m/resolve/main/model.safetensors", b"\x00" * 64)
    b.write_file("leak.jsonl", jsonl(test_rows[:5]))
    b.event("proc.open", path="/data/gsm_test.jsonl", pid=3)
    b.event("monitor.events_lost", producer="fs", count=3)
    b.event("res.budget_exceeded", budget="memory", value=10, limit=5)
    b.close()
    pol = load_policy(resolve("default"))
    ctx = DetectorContext(task=task, policy=pol, blobs=b.rd.blobs, rundir=b.rd.path)
    found = {}
    for route in (True, False):
        ds = DetectorSet.from_policy(pol, ctx, route=route)
        for e in read_events(b.rd.events_path):
            ds.feed(e)
        ds.finish()
        found[route] = [f.model_dump_json() for f in ds.findings]
    assert len(found[True]) >= 5
    assert found[True] == found[False]


def test_every_declared_kinds_covers_what_the_module_checks():
    """A kind left out of ``Detector.kinds`` is never routed to the detector: its events would
    be skipped silently. Every event model a detector's module tests with ``isinstance`` must be
    read by the detector (``kinds = None`` reads everything)."""
    import ast
    import inspect
    import sys

    from ptaudit.core.events import EVENT_TYPES, EventData

    REGISTRY.load()
    checked = 0
    for name, cls in REGISTRY.items():
        if cls.kinds is None:
            continue
        mod = sys.modules[cls.__module__]
        tree = ast.parse(inspect.getsource(mod))
        # the detector's own class and the module's functions (a module may hold two detectors)
        scope = [n for n in tree.body if isinstance(n, ast.FunctionDef)
                 or isinstance(n, ast.ClassDef) and n.name == cls.__name__]
        used: set[str] = set()
        for node in (m for s in scope for m in ast.walk(s)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
                used |= {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
        models = {getattr(mod, n) for n in used if isinstance(getattr(mod, n, None), type)
                  and issubclass(getattr(mod, n), EventData)}
        for model in models:
            kinds = [k for k, m in EVENT_TYPES.items() if issubclass(m, model)]
            assert kinds, model
            missed = [k for k in kinds if not cls.reads(k)]
            assert not missed, f"detector {name} checks {model.__name__} but its kinds leave out {missed}"
            checked += 1
    assert checked >= 10  # the shipped detectors declare kinds: the check ran
