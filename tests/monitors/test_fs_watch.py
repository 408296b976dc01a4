"""Workspace file monitor: live events, fs.write contents, overflow recovery, reconciliation."""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

from monitors.fs_watch import FsWatch, FsWatchConfig
from ptaudit.core.blobs import BlobStore
from ptaudit.core.session import RunSession
from ptaudit.core.verify import verify_run  # noqa: F401  (import check: replay side exists)

from .conftest import Collector, needs_runsc, run_sandboxed

_ST_HDR = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()


def _watch(ws: Path, tmp: Path, **kw) -> tuple[FsWatch, Collector]:  # type: ignore[no-untyped-def]
    col = Collector()
    m = FsWatch(FsWatchConfig(workspace=ws, debounce_s=kw.pop("debounce_s", 0.2), **kw),
                blobs=BlobStore(tmp / "blobs"))
    m.start(col)
    return m, col


def test_native_changes_writes_and_blobs(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "old.txt").write_text("old")
    m, col = _watch(ws, tmp_path, store_max=1024)
    (ws / "d").mkdir()
    (ws / "d" / "a.json").write_text('{"k": 1}')
    (ws / "big.bin").write_bytes(b"\x01" * 4096)       # over store_max: hashed, not stored
    # inotify adds the watch on a new directory only after its IN_CREATE is read; a rename
    # out of it before that shows as a create (moved_in) and a final-scan fs.missed.
    time.sleep(0.3)
    os.rename(ws / "d" / "a.json", ws / "b.json")
    (ws / "old.txt").unlink()
    os.symlink("/etc/shadow", ws / "link")
    os.mkfifo(ws / "pipe")                              # must not block the hasher
    time.sleep(0.8)
    m.final_scan()
    assert m.status().healthy and m.status().lost == 0
    assert {"path": "d", "dir": True} in col.of("fs.create")
    assert {"src": "d/a.json", "dest": "b.json"} in col.of("fs.move")
    assert {"path": "old.txt"} in col.of("fs.delete")
    writes = {d["path"]: d for d in col.of("fs.write")}
    bj = writes.get("b.json") or writes["d/a.json"]  # written before or after the rename
    assert bj["type"] == "json" and bj["size"] == 8 and bj["blobs"] == [bj["sha256"]]
    assert (tmp_path / "blobs" / bj["sha256"][:2] / bj["sha256"]).read_bytes() == b'{"k": 1}'
    assert writes["big.bin"]["size"] == 4096 and "blobs" not in writes["big.bin"]
    assert writes["link"] == {"path": "link", "type": "symlink", "target": "/etc/shadow", "size": 11}
    assert writes["pipe"]["type"] == "special"
    scan = {d["path"]: d for d in col.of("fs.final_scan")}
    assert set(scan) == {"b.json", "big.bin", "link"}
    assert scan["b.json"]["sha256"] == bj["sha256"] and scan["link"]["sha256"] is None
    assert col.of("fs.missed") == []


def test_modify_is_debounced_into_one_write(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    m, col = _watch(ws, tmp_path, debounce_s=0.3)
    with open(ws / "log.jsonl", "w") as fh:
        for i in range(50):
            fh.write(json.dumps({"i": i}) + "\n")
            fh.flush()
    time.sleep(0.8)
    m.stop()
    assert len(col.of("fs.modify")) == 1
    (w,) = col.of("fs.write")
    assert w["type"] == "jsonl" and w["size"] == (ws / "log.jsonl").stat().st_size


def test_final_scan_reports_what_the_watch_missed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "gone.txt").write_text("x")
    (ws / "same.txt").write_text("s")
    m, col = _watch(ws, tmp_path)
    (ws / "seen.txt").write_text("1")
    time.sleep(0.5)
    m._stopping.set()  # the watch dies: nothing below is seen live
    m._ino.close()  # type: ignore[union-attr]
    for t in m._threads:
        t.join(5)
    (ws / "seen.txt").write_text("22")
    (ws / "unseen.bin").write_bytes(b"\0" * 10)
    (ws / "gone.txt").unlink()
    counts = m.final_scan()
    missed = {d["path"]: d["change"] for d in col.of("fs.missed")}
    assert missed == {"unseen.bin": "created", "seen.txt": "modified", "gone.txt": "deleted"}
    assert counts == {"files": 3, "missed": 3}
    scan = {d["path"]: d for d in col.of("fs.final_scan")}
    assert scan["seen.txt"]["size"] == 2 and scan["same.txt"]["size"] == 1


def test_read_failure_rebuilds_the_watch_and_rescans(tmp_path: Path) -> None:
    # watchdog 6.0 raises KeyError on the IN_IGNORED of a watch it already forgot;
    # the monitor must recover (new watch + rescan + loss record), not go blind.
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    m, col = _watch(ws, tmp_path)
    m._ino.remove_watch(os.fsencode(ws / "sub"))  # type: ignore[union-attr]
    (ws / "sub" / "x.bin").write_bytes(b"\0" * 10)
    time.sleep(0.5)
    (ws / "sub" / "y.bin").write_bytes(b"\0")  # watched again after the rebuild
    time.sleep(0.5)
    m.final_scan()
    assert col.of("monitor.events_lost")[0]["reason"].startswith("inotify read failed")
    assert {"path": "sub/x.bin", "rescan": True} in col.of("fs.create")
    assert {"path": "sub/y.bin"} in col.of("fs.create")
    assert col.of("fs.missed") == [] and m.status().healthy


def test_inotify_overflow_is_recorded_and_rescanned(tmp_path: Path) -> None:
    knob = Path("/proc/sys/fs/inotify/max_queued_events")
    if os.geteuid() != 0 or not os.access(knob, os.W_OK):
        pytest.skip("needs root to shrink the inotify queue")
    ws = tmp_path / "ws"
    ws.mkdir()
    saved = knob.read_text()
    try:
        knob.write_text("16")  # read at inotify_init: only our watch gets the tiny queue
        m, col = _watch(ws, tmp_path)
    finally:
        knob.write_text(saved)
    for i in range(2000):  # native burst: far faster than the reader drains 16 slots
        (ws / f"f{i:04d}").write_bytes(b"x")
    time.sleep(1.0)
    m.final_scan()
    lost = col.of("monitor.events_lost")
    assert lost and lost[0]["producer"] == "fs" and lost[0]["count"] >= 1 and lost[0]["estimated"]
    assert "overflow" in lost[0]["reason"]
    assert m.overflows >= 1 and m.status().lost >= 1
    rescanned = [d for d in col.of("fs.create") if d.get("rescan")]
    assert len(rescanned) == sum(d["rescan_changes"] for d in lost)  # each difference is reported
    seen = {d["path"] for d in col.of("fs.create")} | {d["path"] for d in col.of("fs.missed")}
    assert seen >= {f"f{i:04d}" for i in range(2000)}
    assert len(col.of("fs.final_scan")) == 2000


@pytest.mark.runsc
@needs_runsc
def test_sandboxed_agent_burst_nothing_unreported(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    col = Collector()
    m = FsWatch(FsWatchConfig(workspace=ws, debounce_s=0.3), blobs=BlobStore(tmp_path / "blobs"))
    script = ("import os\n"
              "os.makedirs('/workspace/burst')\n"
              "for i in range(10000):\n"
              "    open(f'/workspace/burst/{i}', 'w').close()\n"
              "for i in range(10000):\n"
              "    os.unlink(f'/workspace/burst/{i}')\n"
              "open('/workspace/a.txt', 'w').write('A')\n"
              "os.rename('/workspace/a.txt', '/workspace/b.txt')\n"
              "open('/workspace/c.txt', 'w').write('C')\n"
              "os.unlink('/workspace/c.txt')\n")
    res = run_sandboxed(tmp_path, ["python3", "-c", script], col, [m], workspace=ws)
    assert res.exit_code == 0
    m.final_scan()
    assert m.status().healthy
    created = {d["path"] for d in col.of("fs.create")}
    deleted = {d["path"] for d in col.of("fs.delete")}
    reconciled = {d["path"] for d in col.of("fs.missed")} | {d["path"] for d in col.of("fs.final_scan")}
    for i in range(10000):
        p = f"burst/{i}"
        assert (p in created and p in deleted) or p in reconciled, p
    assert {"src": "a.txt", "dest": "b.txt"} in col.of("fs.move")
    assert "c.txt" in created and "c.txt" in deleted
    assert [d["path"] for d in col.of("fs.final_scan")] == ["b.txt"]
    b = next(d for d in col.of("fs.write") if d["path"] == "b.txt")
    assert b["size"] == 1 and b["type"] == "text"


@pytest.mark.runsc
@needs_runsc
def test_sandboxed_writes_into_a_real_run_log(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    s = RunSession.create(tmp_path / "run", command=["agent"])
    m = FsWatch(FsWatchConfig(workspace=ws, debounce_s=0.2), blobs=s.rundir.blobs)
    script = "open('/workspace/model.gguf','wb').write(b'GGUF' + bytes(100))"
    run_sandboxed(tmp_path, ["python3", "-c", script], s.record, [m], workspace=ws)
    m.final_scan()
    s.close(0, "agent_exit")
    lines = [json.loads(x) for x in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    w = next(e["data"] for e in lines if e["kind"] == "fs.write")
    assert w["type"] == "gguf" and w["size"] == 104 and e_src(lines, "fs.write") == "fs"
    assert s.rundir.blobs.read(w["blobs"][0])[:4] == b"GGUF"
    from ptaudit.app.cli.main import main  # noqa: F401
    from tests.support import run_ptaudit
    assert run_ptaudit("verify", str(tmp_path / "run")).returncode == 0


def e_src(lines: list[dict], kind: str) -> str:  # type: ignore[type-arg]
    return next(e["source"] for e in lines if e["kind"] == kind)


def test_weights_files_are_fingerprinted_as_they_land_and_at_the_end(tmp_path: Path) -> None:
    from detectors.fingerprint import tensor_fp
    from tests.detectors.weights_support import st_bytes, tiny_state, write_model

    ws = tmp_path / "ws"
    ws.mkdir()
    state = tiny_state(41, {"a": (600, 600), "b": (3,)})  # 1.4 MB: over store_max, fingerprinted anyway
    m, col = _watch(ws, tmp_path, store_max=4096)
    write_model(ws / "final_model", state, shards=2)
    (ws / "renamed.bin").write_bytes(st_bytes(state))
    (ws / "notes.txt").write_text("not weights")
    time.sleep(0.8)
    m.stop()
    (ws / "late.safetensors").write_bytes(st_bytes(state))  # the live watch never saw it: the final scan does
    m.final_scan()
    got = {d["path"]: d for d in col.of("fs.weights")}
    assert set(got) == {"final_model/model-00001-of-00002.safetensors", "final_model/model-00002-of-00002.safetensors",
                        "final_model/model.safetensors.index.json", "renamed.bin", "late.safetensors"}
    want = {k: tensor_fp(v.tobytes()) for k, v in state.items()}
    assert {t["name"]: t["fp"] for t in got["renamed.bin"]["tensors"]} == want and got["renamed.bin"]["complete"]
    shards = [got[p] for p in got if p.startswith("final_model/model-")]
    assert {t["name"]: t["fp"] for s in shards for t in s["tensors"]} == want
    assert got["final_model/model.safetensors.index.json"]["index"] == {
        "model-00001-of-00002.safetensors": 1, "model-00002-of-00002.safetensors": 1}
    writes = {d["path"]: d for d in col.of("fs.write")}
    assert got["renamed.bin"]["sha256"] == writes["renamed.bin"]["sha256"] and "blobs" not in writes["renamed.bin"]
    kinds = col.kinds()  # each fs.weights right after its file's fs.write / fs.final_scan
    assert kinds[kinds.index("fs.weights") - 1] in ("fs.write", "fs.final_scan")


def test_reading_or_chmod_of_a_file_is_not_a_write(tmp_path: Path) -> None:
    """Reads (atime) and chmod raise IN_ATTRIB only: no fs.write for files there before the
    run whose content did not change; a write whose mtime is put back still is one."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("read.txt", "chmod.txt", "sneaky.txt"):
        (ws / name).write_text("before")
    st = (ws / "sneaky.txt").stat()
    m, col = _watch(ws, tmp_path)
    os.utime(ws / "read.txt", ns=(time.time_ns(), (ws / "read.txt").stat().st_mtime_ns))  # what a read does
    os.chmod(ws / "chmod.txt", 0o600)
    (ws / "sneaky.txt").write_text("after!")  # same size, then the old mtime back
    os.utime(ws / "sneaky.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    time.sleep(0.8)
    m.final_scan()
    assert [d["path"] for d in col.of("fs.write")] == ["sneaky.txt"]
    assert {d["path"] for d in col.of("fs.final_scan")} == {"read.txt", "chmod.txt", "sneaky.txt"}


def test_undecodable_names_are_recorded_unambiguously(tmp_path: Path) -> None:
    # A raw 0xff byte and the four characters "\xff" must not read as the same path.
    ws = tmp_path / "ws"
    ws.mkdir()
    m, col = _watch(ws, tmp_path)
    raw, literal = b"bad\xffname", "bad\\xffname"
    with open(os.path.join(os.fsencode(ws), raw), "wb") as fh:
        fh.write(b"raw")
    (ws / literal).write_text("literal")
    os.rename(os.path.join(os.fsencode(ws), raw), os.path.join(os.fsencode(ws), raw + b".2"))
    time.sleep(0.8)
    m.final_scan()
    creates = col.of("fs.create")
    assert {"path": literal} in creates  # valid UTF-8: no b64 field
    assert {"path": literal, "path_b64": base64.b64encode(raw).decode()} in creates
    mv = col.of("fs.move")[0]
    assert base64.b64decode(mv["src_b64"]) == raw and base64.b64decode(mv["dest_b64"]) == raw + b".2"
    finals = {(d["path"], d.get("path_b64")) for d in col.of("fs.final_scan")}
    assert (literal, None) in finals and (literal + ".2", base64.b64encode(raw + b".2").decode()) in finals
