"""Hostile input, fuzzed (hypothesis): every parser and decoder either accepts its input or
rejects it with its documented error -- never another exception, never unbounded work.

Covered: the policy, task and world parsers; the event-log readers (verify, the report's
scan, the report) and the chain's promise that any changed byte is found; the recorder's
frame parser; the trace sink's frame decoder; the decoders the leakage scanner uses
(compression, archives, columnar files, embedded encodings) and the content sniffer.
Example counts are kept small for CI (``FUZZ_EXAMPLES`` raises them for a long run).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from detectors import load_policy
from detectors.leak_decode import Budget, Limits, segments
from detectors.leak_index import LeakIndex
from detectors.leak_scan import Scanner
from detectors.testset import TestItem
from monitors.trace_proto import BY_TYPE, frame
from monitors.trace_sink import TraceSink, TraceSinkConfig
from policies import shipped_path
from ptaudit.app.report.model import build_report
from ptaudit.app.report.scan import scan_events
from ptaudit.core.errors import InputError
from ptaudit.core.recorder import Recorder, _Conn
from ptaudit.core.runlog import RunLogWriter
from ptaudit.core.sniff import sniff
from ptaudit.core.task import load_task
from ptaudit.core.verify import verify_run
from ptaudit.core.world import load_world
from tests.support import make_run

N = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=N, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# -- input files ----------------------------------------------------------------------------
_TOML_VALUES = st.one_of(
    st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.text(max_size=30).map(json.dumps), st.sampled_from(["true", "false", "[]", "{}", "[1, 'a']", '"10h"', '"1GiB"',
                                                           '"http://127.0.0.1:1"', '"deny"', '"high"']))


def _mutate(text: str, draws: list[tuple[int, str]]) -> str:
    lines = text.splitlines()
    for pos, val in draws:
        if not lines:
            break
        i = pos % len(lines)
        if "=" in lines[i] and pos % 3:
            lines[i] = lines[i].split("=", 1)[0] + "= " + val
        elif pos % 5 == 0:
            del lines[i]
        else:
            lines.insert(i, val)
    return "\n".join(lines) + "\n"


def _loads_or_input_error(fn, path: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(path)
    except InputError as exc:
        assert "Traceback" not in str(exc)


POLICY = shipped_path("strict").read_text()
TASK = ('name = "t"\nbase_model = "org/base"\ntime_limit = "2h"\nfinal_model = "final_model"\n[[benchmarks]]\n'
        'name = "b"\ntest_set = "t.jsonl"\nfields = ["q"]\nid_field = "id"\nhub_ids = ["org/b"]\n[agent]\n'
        'api_host = "api.x.test"\napi_key_env = "K"\n')
WORLD = '[hosts]\n"huggingface.co" = "http://127.0.0.1:18080"\n"cdn.test" = "https://[::1]:8443"\n'


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), _TOML_VALUES), max_size=6))
def test_policy_parser(tmp_path: Path, draws: list[tuple[int, str]]) -> None:
    f = tmp_path / "p.toml"
    f.write_text(_mutate(POLICY, draws))
    _loads_or_input_error(load_policy, f)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), _TOML_VALUES), max_size=6))
def test_task_parser(tmp_path: Path, draws: list[tuple[int, str]]) -> None:
    f = tmp_path / "task.toml"
    f.write_text(_mutate(TASK, draws))
    _loads_or_input_error(lambda p: load_task(p, check_files=False), f)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), _TOML_VALUES), max_size=4),
       st.binary(max_size=200))
def test_world_parser(tmp_path: Path, draws: list[tuple[int, str]], raw: bytes) -> None:
    f = tmp_path / "w.toml"
    f.write_text(_mutate(WORLD, draws))
    _loads_or_input_error(load_world, f)
    f.write_bytes(raw)
    _loads_or_input_error(load_world, f)


# -- the event log ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events = [("fs", "fs.write", {"path": f"f{i}", "size": i, "sha256": "ab" * 32}) for i in range(6)]
    events += [("net", "net.request", {"url": "https://x.test/a", "method": "GET", "flow": "1"}),
               ("detector", "detector.finding", {"finding": {"id": "a" * 16, "rule": "r", "detector": "d",
                "category": "budget", "severity": "low", "action": "log", "message": "m", "subject": "s"}})]
    return make_run(tmp_path_factory.mktemp("log") / "run", events=events, blobs=[b"blob"])


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


@FUZZ
@given(st.data())
def test_any_changed_byte_of_a_sealed_log_is_found(sealed: Path, tmp_path: Path, data: st.DataObject) -> None:
    run = _copy(sealed, tmp_path / "run")
    raw = bytearray((run / "events.jsonl").read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]))
    raw[i] = new
    (run / "events.jsonl").write_bytes(bytes(raw))
    res = verify_run(run)
    assert not res.ok, f"byte {i} changed to {new} went unnoticed"
    rep = build_report(run).data  # the report still reads, and says so
    assert rep["verdict"] == "incomplete" and rep["verify"]["ok"] is False


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=300), st.sampled_from([
    b'{"seq":0,"ts":1,"source":"x","kind":"run.start","data":[],"prev":"0","hash":"0"}',
    b'{"seq":"0"}', b"{" * 5000, b'{"data":{"blobs":[1,null,"../../etc/passwd"]}}', b"\xff\xfe", b"null",
    b'{"seq":0,"ts":1,"source":"fs","kind":"fs.write","data":{"path":5},"prev":"","hash":""}'])), max_size=40),
    st.booleans())
def test_log_readers_never_crash(sealed: Path, tmp_path: Path, lines: list[bytes], torn: bool) -> None:
    run = _copy(sealed, tmp_path / "run")
    body = b"\n".join(lines) + (b"" if torn else b"\n")
    (run / "events.jsonl").write_bytes((run / "events.jsonl").read_bytes() + body)
    res = verify_run(run)
    assert res.ok is not bool(body), res.problems  # anything after the seal is found
    scan_events(run / "events.jsonl", set())
    d = build_report(run).data
    assert d["verdict"] == ("incomplete" if body else "pass")


# -- the recorder's frame parser -----------------------------------------------------------
class _Sink:
    """Where _Conn writes its acks (the asyncio transport in a live recorder)."""

    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, b: bytes) -> None:
        self.out += b

    def is_closing(self) -> bool:
        return False


_FRAMES = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda p, k, d: json.dumps({"p": p, "source": "net", "kind": k, "data": d}).encode() + b"\n",
              st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none()), st.text(max_size=140),
              st.one_of(st.dictionaries(st.text(max_size=5), st.integers()), st.lists(st.integers()), st.none())),
    st.just(b'{"hello":1,"producer":"net","id":"p1"}\n'),
    st.just(b"x" * 70_000),
)


@FUZZ
@given(st.lists(_FRAMES, max_size=30), st.integers(1, 97))
def test_recorder_frame_parser(tmp_path: Path, frames: list[bytes], cut: int) -> None:
    d = tmp_path / f"r{os.urandom(4).hex()}"
    d.mkdir()
    log = RunLogWriter(d / "events.jsonl", fsync=False)
    rec = Recorder(log)
    conn = _Conn(rec, _Sink())  # type: ignore[arg-type]
    stream = b"".join(frames)
    for i in range(0, len(stream), cut):  # arbitrary chunking of the byte stream
        conn.feed(stream[i:i + cut])
    conn.closed()
    log.close()
    for line in (d / "events.jsonl").read_bytes().splitlines():
        obj = json.loads(line)  # every record the recorder wrote is a well-formed line
        assert isinstance(obj["data"], dict)


# -- the trace sink's frame decoder -----------------------------------------------------------
@FUZZ
@given(st.one_of(st.binary(max_size=400),
                 st.builds(lambda t, payload, dropped, hs: frame(t, payload, dropped, hs),
                           st.sampled_from(sorted(BY_TYPE) + [0, 999, 65535]), st.binary(max_size=300),
                           st.integers(0, 2**32 - 1), st.integers(8, 40))))
def test_trace_sink_decoder(tmp_path: Path, raw: bytes) -> None:
    events: list = []
    sink = TraceSink(TraceSinkConfig(socket_path=tmp_path / "s.sock"))
    sink._record_fn = events.append
    sink._decode(1, raw)
    sink._flush_loss()
    assert sink.status().healthy


# -- the scanners' decoders ---------------------------------------------------------------------
def _archives(payload: bytes) -> list[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    out = [gzip.compress(payload), bz2.compress(payload), lzma.compress(payload),
           zstandard.ZstdCompressor().compress(payload)]
    pb = io.BytesIO()
    pq.write_table(pa.table({"q": [payload.decode("utf-8", "replace")] * 3}), pb)
    out.append(pb.getvalue())
    zb = io.BytesIO()
    with zipfile.ZipFile(zb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.jsonl", payload)
        z.writestr("n/b.json.gz", gzip.compress(payload))
    out.append(zb.getvalue())
    tb = io.BytesIO()
    with tarfile.open(fileobj=tb, mode="w") as t:
        info = tarfile.TarInfo("x.txt")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    out.append(tb.getvalue())
    return out


_INDEX = LeakIndex([TestItem(str(i), {"q": f"what is the secret number of item {i} in the benchmark set"})
                    for i in range(20)])


@FUZZ
@example(payload=b"\0" * 4, which=1, pos=39, byte=1, name="f.jsonl")  # corrupt deflate: zlib.error escaped
@given(st.binary(max_size=2000), st.integers(0, 7), st.integers(0, 400), st.integers(0, 255),
       st.sampled_from(["f.jsonl", "f.py", "f.json", "f.bin", "f.parquet", "f.gz"]))
def test_scanner_decoders(payload: bytes, which: int, pos: int, byte: int, name: str) -> None:
    srcs = [payload, *_archives(payload)]
    raw = bytearray(srcs[which % len(srcs)])
    if raw:  # damage one byte: truncated and corrupted containers are the hostile case
        raw[pos % len(raw)] = byte
        raw = raw[: max(1, len(raw) - pos % 7)]
    lim = Limits(max_bytes=1 << 16, max_total=1 << 18, depth=3, max_members=20, chunk=4096)
    res = Scanner({"b": _INDEX}, lim).scan(io.BytesIO(bytes(raw)), name)
    assert res.bytes_scanned <= lim.max_total
    for _ in segments(io.BytesIO(bytes(raw)), name, Budget(lim)):
        pass
    sniff(bytes(raw[:4096]))
