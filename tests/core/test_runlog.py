"""The line codec: what the fast paths write and read equals what the slow ones did."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ptaudit.core.events import Event, EventDataError, ProcOpen, encode_line, line_digest
from ptaudit.core.events.line import dumps, trusted_event
from ptaudit.core.runlog import RunLogWriter, parse_line, read_events

DATA = [
    {},
    {"path": "/workspace/données/ü.txt", "size": 3, "ok": True, "none": None, "f": 0.1, "neg": -5},
    {"nested": {"b": [1, 2, {"z": "\n\t\"\\"}], "a": "\u2028\x7f\x00"}, "big": 2**63 - 1},
    {"huge": 2**80, "k": "beyond 64 bits: the json module writes it"},
    {"emoji": "🙂", "ctrl": "".join(map(chr, range(32)))},
]


@pytest.mark.parametrize("data", DATA)
def test_encode_line_is_the_documented_format(data: dict) -> None:
    line, digest = encode_line(7, 123, "fs", "fs.write", data, "ab" * 32)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    body = line[:-1]
    assert line_digest(body) == digest
    # the hash covers the line up to prev, closed with "}"
    cut = body.rindex(b',"hash":"')
    assert hashlib.sha256(body[:cut] + b"}").hexdigest() == digest
    obj = json.loads(body)
    assert list(obj) == ["seq", "ts", "source", "kind", "data", "prev", "hash"]
    assert obj["data"] == data and obj["hash"] == digest
    # the data member is compact JSON with sorted keys, as the json module writes it
    assert json.loads(dumps(data)) == obj["data"]
    assert body.index(b'"data":') < body.index(b'"prev":')


@pytest.mark.parametrize("data", DATA)
def test_parse_line_equals_full_validation(data: dict) -> None:
    line, _ = encode_line(3, 5, "proc", "proc.open", data, "0" * 64)
    fast = parse_line(line)
    slow = Event.model_validate(json.loads(line))
    assert fast == slow and fast.model_dump() == slow.model_dump()
    assert type(fast.data) is dict


def test_odd_records_still_go_through_validation() -> None:
    # a string seq is coerced as before; a record missing a key fails clearly
    ev = parse_line(b'{"seq":"4","ts":1,"source":"x","kind":"k","data":{},"prev":"p","hash":"h"}\n')
    assert ev.seq == 4
    with pytest.raises(ValueError):
        parse_line(b'{"seq":4,"ts":1,"source":"x","kind":"k","data":{},"hash":"h"}\n')
    # NaN (which orjson refuses) written by an older release stays readable
    ev = parse_line(b'{"seq":0,"ts":1,"source":"res","kind":"x","data":{"v":NaN},"prev":"p","hash":"h"}\n')
    assert ev.data["v"] != ev.data["v"]


def test_trusted_event_behaves_like_a_validated_one() -> None:
    obj = {"seq": 1, "ts": 2, "source": "proc", "kind": "proc.open", "data": {"path": "/w/x", "pid": 3},
           "prev": "0" * 64, "hash": "1" * 64}
    ev = trusted_event(dict(obj))
    assert ev == Event.model_validate(obj) and hash(ev.seq) == 1
    assert isinstance(ev.payload, ProcOpen) and ev.payload.path == "/w/x"
    assert ev.model_dump() == obj
    with pytest.raises(ValueError):
        ev.seq = 5  # type: ignore[misc] - frozen like any Event
    bad = trusted_event({**obj, "data": {"pid": "not a number"}})
    with pytest.raises(EventDataError):
        bad.payload  # noqa: B018


def test_writer_round_trip(tmp_path: Path) -> None:
    w = RunLogWriter(tmp_path / "events.jsonl")
    written = [w.append("fs", "fs.write", d) for d in DATA]
    w.close()
    assert list(read_events(tmp_path / "events.jsonl")) == written


def test_trusted_payloads_equal_validated_ones() -> None:
    from ptaudit.core.events import FsWrite, ProcExec, RunNote, strict_check

    d = {"pid": 3, "tid": 4, "comm": "py", "time_ns": 5, "uid": 1000, "path": "/w/x", "flags": 577,
         "write": True, "result": 3, "errno": 0}
    fast, slow = ProcOpen.trusted(d), ProcOpen(**d)
    assert fast.to_data() == slow.to_data() == d and fast == slow
    assert fast.missing is False and strict_check("proc.open", fast.to_data()) == []
    # only what was given is written (exclude_unset), as for a validated model
    assert ProcOpen.trusted({"path": "/w/y"}).to_data() == ProcOpen(path="/w/y").to_data() == {"path": "/w/y"}
    assert type(RunNote.trusted({"note": "n"})) is RunNote
    # models with default factories (a shared mutable default would leak between events)
    # are validated instead
    ex = ProcExec.trusted({"pid": 1})
    assert ex.argv == [] and ex.argv is not ProcExec.trusted({"pid": 2}).argv
    with pytest.raises(ValueError):
        FsWrite.trusted({"path": 5})  # validated: a wrong type still fails
