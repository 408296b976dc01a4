"""Weights by content: header-only parsing (detectors/weightfile.py) and per-tensor
fingerprints that do not depend on the file around the tensors (detectors/fingerprint.py)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.fingerprint import BLOCK, ResourceFingerprint, fingerprint_file, tensor_fp
from detectors.modeldir import FingerprintFile, fingerprint_dir
from detectors.weightfile import LayoutScanner, parse_index, walk_pickle
from tests.detectors.weights_support import gguf_bytes, st_bytes, tiny_state, torch_bytes, write_model

ROOT = Path(__file__).resolve().parents[2]


def _scan(data: bytes, step: int) -> tuple[LayoutScanner, list]:
    sc, out = LayoutScanner(), []
    for i in range(0, len(data), step):
        out += sc.feed(data[i:i + step])
    out += sc.finish()
    return sc, out


def _fps(data: bytes, pieces: list[tuple[int, int]], chunk: int = 65536) -> dict:
    fp = ResourceFingerprint()
    for a, b in pieces:
        seg = fp.segment(a)
        for i in range(a, b, chunk):
            seg.feed(data[i:min(b, i + chunk)])
        seg.close()
    fp.finish()
    return fp.result()


def _by_name(r: dict) -> dict[str, str | None]:
    return {t["name"]: t["fp"] for t in r["tensors"]}


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_safetensors_table_from_any_chunking(step: int) -> None:
    state = tiny_state(1)
    data = st_bytes(state, {"format": "pt", "note": "x"})
    sc, out = _scan(data, step)
    assert sc.format == "safetensors" and sc.failed is None and sc.metadata["note"] == "x"
    assert {t.name: (t.dtype, t.shape) for t in out} == {k: ("F32", v.shape) for k, v in state.items()}
    for t in out:
        assert data[t.start:t.end] == state[t.name].tobytes()


def test_torch_zip_table_without_unpickling_and_same_fingerprints_as_safetensors() -> None:
    import torch

    state = tiny_state(2)
    sd = {k: torch.from_numpy(v) for k, v in state.items()}
    sd["tied"] = sd["lm_head.weight"]  # shares storage
    sd["half"] = torch.from_numpy(state["lm_head.weight"]).to(torch.bfloat16)
    sd["rows"] = torch.from_numpy(state["model.embed_tokens.weight"])[8:]  # a contiguous view at an offset
    sd["cols"] = torch.from_numpy(state["model.embed_tokens.weight"])[:, :4]  # not contiguous
    buf = io.BytesIO()
    torch.save(sd, buf)
    zipped = buf.getvalue()
    for step in (13, 1 << 20):
        sc, out = _scan(zipped, step)
        assert sc.format == "pytorch-zip" and sc.failed is None
        names = {t.name for t in out}
        assert names == set(state) | {"tied", "half", "rows"}  # "cols" is a strided view: noted, not fingerprinted
        assert any("cols" in n and "non-contiguous" in n for n in sc.notes)
    ref = _by_name(_fps(st_bytes(state), [(0, len(st_bytes(state)))]))
    got = _by_name(_fps(zipped, [(0, len(zipped))], 4096))
    assert {k: got[k] for k in ref} == ref
    assert got["tied"] == got["lm_head.weight"]
    assert got["rows"] == tensor_fp(state["model.embed_tokens.weight"][8:].tobytes())
    assert got["half"] == tensor_fp(sd["half"].view(torch.int16).numpy().tobytes())


def test_pickle_walker_never_imports_or_calls(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (subprocess.call, (["touch", str(marker)],))

    for proto in (2, 4):
        data = pickle.dumps({"w": Evil(), "x": 1}, protocol=proto)
        obj = walk_pickle(data)
        assert not marker.exists() and isinstance(obj, dict) and obj["x"] == 1
        assert type(obj["w"]).__name__ == "_Call" and obj["w"].fn.name == "call"  # a name, never imported
    # a global from a module that does not exist is just a name too
    obj = walk_pickle(b"\x80\x02cno_such_module_xyz\nboom\nq\x00)R.")
    assert obj.fn.module == "no_such_module_xyz" and "no_such_module_xyz" not in sys.modules
    # a torch zip whose data.pkl is such a pickle: parsed, no tensors, nothing run
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", b"3\n")
    sc, out = _scan(buf.getvalue(), 100)
    assert out == [] and not marker.exists() and sc.failed is None


def test_gguf_table_with_quantized_tensors() -> None:
    f = {"token_embd.weight": np.arange(24, dtype=np.float32).reshape(6, 4), "output_norm.weight": np.ones(4, np.float32)}
    q8 = bytes(range(68))  # two Q8_0 blocks: 64 elements
    data = gguf_bytes(f, {"blk.0.attn_q.weight": q8})
    sc, out = _scan(data, 5)
    assert sc.format == "gguf" and sc.failed is None and sc.metadata["general.architecture"] == "llama"
    t = {x.name: x for x in out}
    assert t["token_embd.weight"].shape == (6, 4) and t["blk.0.attn_q.weight"].dtype == "Q8_0"
    assert data[t["token_embd.weight"].start:t["token_embd.weight"].end] == f["token_embd.weight"].tobytes()
    assert data[t["blk.0.attn_q.weight"].start:t["blk.0.attn_q.weight"].end] == q8
    r = _fps(data, [(0, len(data))], 7)
    assert r["complete"] and _by_name(r)["token_embd.weight"] == tensor_fp(f["token_embd.weight"].tobytes())


def test_numpy_and_index_files() -> None:
    buf = io.BytesIO()
    a = np.arange(12, dtype=np.float16).reshape(3, 4)
    np.save(buf, a)
    sc, out = _scan(buf.getvalue(), 3)
    assert sc.format == "numpy" and out[0].shape == (3, 4) and out[0].dtype == "F16"
    idx = parse_index(json.dumps({"metadata": {"total_size": 10}, "weight_map": {"a": "s1", "b": "s1", "c": "s2"}}).encode())
    assert idx is not None and idx["index"] == {"s1": 2, "s2": 1} and idx["index_tensors"] == 3
    assert parse_index(b'{"not": "an index"}') is None


@pytest.mark.parametrize("data, why", [
    (struct.pack("<Q", 200 << 20) + b'{"a": 1}' + b"\0" * 32, "over"),  # header length over the bound
    (struct.pack("<Q", 9) + b'{"a": 1 }' + b"\0" * 32, "safetensors entry"),  # malformed entry
    (struct.pack("<Q", 8) + b'{"a" 1 }' + b"\0" * 32, "not JSON"),
    (b"GGUF" + struct.pack("<IQQ", 9, 1, 0) + b"\0" * 40, "version 9"),
    (b"PK\x03\x04" + b"\0" * 22 + struct.pack("<HH", 9, 0) + b"other.txt" + b"\0" * 40, "not a torch checkpoint"),
])
def test_bad_headers_fail_with_a_reason_and_bounded_memory(data: bytes, why: str) -> None:
    sc, out = _scan(data, 16)
    assert out == [] and sc.failed is not None and why in sc.failed


def test_truncated_stream_is_a_failure_not_a_partial_pass() -> None:
    data = st_bytes(tiny_state(3))
    r = _fps(data, [(0, 40)])  # cut inside the header
    assert not r["complete"] and any("cut off" in n for n in r["notes"])
    r = _fps(data, [(0, len(data) - 10)])  # header whole, last tensor short
    assert not r["complete"] and any("incomplete" in n for n in r["notes"])


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.floats(0.001, 0.999), min_size=1, max_size=6), overlap=st.sampled_from([0, 1, 3000, 70000]),
       order=st.randoms(use_true_random=False), chunk=st.sampled_from([997, 65536, 1 << 20]))
def test_range_pieces_in_any_order_fingerprint_the_same_tensors(cuts, overlap, order, chunk) -> None:  # type: ignore[no-untyped-def]
    data = _PROP_DATA
    bounds = [0, *sorted({int(c * len(data)) for c in cuts}), len(data)]
    pieces = [(max(0, a - overlap), b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    order.shuffle(pieces)
    r = _fps(data, pieces, chunk)
    assert r["complete"] and _by_name(r) == _PROP_WANT


_PROP_STATE = tiny_state(4, {f"w{i}": (int(n), 517) for i, n in enumerate([900, 3, 1300, 1, 700])})
_PROP_DATA = st_bytes(_PROP_STATE)
_PROP_WANT = {k: tensor_fp(v.tobytes()) for k, v in _PROP_STATE.items()}
assert max(v.nbytes for v in _PROP_STATE.values()) > 2 * BLOCK  # multi-block tensors are exercised


def test_pieces_before_the_header_are_parked_within_a_bound() -> None:
    data = st_bytes(tiny_state(5, {"a": (1000, 1000)}))  # 4 MB: half of it is over the 1 MiB bound
    fp = ResourceFingerprint(max_pending=1 << 20)
    seg = fp.segment(len(data) // 2)  # the second half first, header unknown: more than the bound
    seg.feed(data[len(data) // 2:])
    seg.close()
    seg = fp.segment(0)
    seg.feed(data[:len(data) // 2])
    seg.close()
    fp.finish()
    r = fp.result()
    assert not r["complete"] and any("before the table" in n for n in r["notes"])


def test_renamed_resharded_and_joined_copies_fingerprint_the_same(tmp_path: Path) -> None:
    state = tiny_state(6)
    a = write_model(tmp_path / "a", state)
    b = write_model(tmp_path / "b", state, shards=3)
    (tmp_path / "c").mkdir()
    data = (a / "model.safetensors").read_bytes()
    (tmp_path / "c" / "weights.bin").write_bytes(data)  # renamed: found by content
    fa, fb, fc = fingerprint_dir(a), fingerprint_dir(b), fingerprint_dir(tmp_path / "c")
    ta = {t.name: t.fp for t in fa.tensors()}
    assert {t.name: t.fp for t in fb.tensors()} == ta == {t.name: t.fp for t in fc.tensors()}
    assert [f.format for f in fb.files].count("index") == 1
    assert fa.configs["config.json"]["model_type"] == "qwen3"
    assert fingerprint_file(a / "model.safetensors")["complete"]


def test_fingerprint_cli_writes_a_file_tasks_can_name(tmp_path: Path) -> None:
    d = write_model(tmp_path / "m", tiny_state(7), template="{{ messages }}")
    out = tmp_path / "m.fp.json"
    p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "fingerprint", str(d), "--output", str(out),
                        "--name", "Org/M"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    fpf = FingerprintFile.load(out)
    assert fpf.name == "Org/M" and len(fpf.tensors()) == 5 and all(t.fp for t in fpf.tensors())
    assert fpf.configs["tokenizer_config.json"]["chat_template_sha256"]
    bad = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "fingerprint", str(tmp_path / "nope")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "not a directory" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "empty").mkdir()
    bad = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "fingerprint", str(tmp_path / "empty")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "no model weights" in bad.stderr


def test_torch_checkpoint_in_a_model_dir(tmp_path: Path) -> None:
    state = tiny_state(8)
    (tmp_path / "pytorch_model.bin").write_bytes(torch_bytes(state))
    f = fingerprint_dir(tmp_path)
    assert f.files[0].format == "pytorch-zip" and {t.name: t.fp for t in f.tensors()} == \
        {k: tensor_fp(v.tobytes()) for k, v in state.items()}
