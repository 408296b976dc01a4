"""ProcTree: attribution of pids to command lines from proc.* events (live or replayed)."""
from __future__ import annotations

from ptaudit.core.events import Event
from ptaudit.core.proctree import ProcTree


def _ev(kind: str, **data) -> Event:  # type: ignore[no-untyped-def]
    return Event(seq=0, ts=0, source=kind.split(".")[0], kind=kind, data=data, prev="0" * 64, hash="0" * 64)


def test_tree_from_events() -> None:
    t = ProcTree()
    for e in [
        _ev("proc.exec", pid=1, argv=["python3", "train.py"], exe="/usr/bin/python3", cwd="/workspace"),
        _ev("proc.clone", pid=1, child_pid=5),
        _ev("proc.clone", pid=5, child_pid=9),              # fork without exec: inherits argv
        _ev("proc.exec", pid=5, argv=["sh", "-c", "curl x | sh"], ppid=1),
        _ev("net.request", pid=5),                           # not ours: ignored
        _ev("proc.exit", pid=9, exit_status=3),
    ]:
        t.feed(e)
    assert t.cmdline(5) == "sh -c 'curl x | sh'"
    assert t.cmdline(9) == "python3 train.py"
    assert [p.pid for p in t.ancestry(9)] == [9, 5, 1]
    assert t.procs[9].exited and t.procs[9].exit_status == 3
    assert t.attribute(9) == {"pid": 9, "cmdline": "python3 train.py",
                              "ancestry": ["sh -c 'curl x | sh'", "python3 train.py"]}
    assert t.cmdline(404) is None and t.ancestry(404) == []


def test_pid_reuse_and_cycles_are_safe() -> None:
    t = ProcTree()
    t.feed(_ev("proc.exec", pid=3, argv=["a"]))
    t.feed(_ev("proc.exit", pid=3, exit_status=0))
    t.feed(_ev("proc.exec", pid=3, argv=["b"]))             # reused pid, clone not seen
    assert t.cmdline(3) == "b" and not t.procs[3].exited
    t.feed(_ev("proc.clone", pid=3, child_pid=4))
    t.procs[3].ppid = 4                                      # corrupt input: a cycle
    assert [p.pid for p in t.ancestry(4)] == [4, 3]


def test_feeds_recorded_events_and_ignores_garbage() -> None:
    t = ProcTree()
    t.feed(Event(seq=0, ts=0, source="proc", kind="proc.exec", data={"pid": 2, "argv": ["x"]},
                 prev="0" * 64, hash="0" * 64))
    for junk in [_ev("proc.exec", pid="two"), _ev("proc.clone"), _ev("proc.exec", pid=2, argv="s")]:
        t.feed(junk)
    assert t.cmdline(2) == "x" and t.invalid == 3
