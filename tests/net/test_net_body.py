"""The streaming body path: batching to the hash worker, one hash pass, redaction and
placeholder scanning across chunk boundaries (unit level and through mitmdump)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitors.net.body import _BATCH, BodyRecorder, Finder, Redactor
from ptaudit.core.blobs import BlobStore
from tests.net.support import PLACEHOLDER, REAL_KEY, Harness, session
from tests.simnet import SimNet

SECRET = b"sk-SECRET-0123456789"
MASK = (b"[REDACTED]" + b"*" * len(SECRET))[: len(SECRET)]


def _chunks(data: bytes, rng: random.Random) -> Iterator[bytes]:
    o = 0
    while o < len(data):
        n = rng.choice([1, 7, 4096, 65535, 65536, _BATCH - 1, _BATCH, _BATCH + 5, 3 * _BATCH, rng.randrange(1, 300_000)])
        yield data[o:o + n]
        o += n


@pytest.mark.parametrize("seed", range(12))
def test_body_recorder_hashes_every_byte_and_stores_the_prefix(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = BlobStore(tmp_path)
    size = rng.choice([0, 1, 65535, _BATCH, _BATCH + 1, 5 * _BATCH + 3, rng.randrange(0, 6 * _BATCH)])
    cap = rng.choice([0, 1, 1000, _BATCH, _BATCH + 7, size, size + 1, max(0, size - 1), 8 * _BATCH])
    data = bytearray(rng.randbytes(size))
    for _ in range(rng.randrange(0, 5)):
        if size > len(SECRET):
            o = rng.randrange(0, size - len(SECRET))
            data[o:o + len(SECRET)] = SECRET
    raw = bytes(data)
    rec = BodyRecorder(store, cap, [SECRET], threaded=seed % 4 != 0)
    out = b"".join(rec.feed(c) for c in _chunks(raw, rng)) + rec.feed(b"", final=True)
    info = rec.finish()
    expect = raw.replace(SECRET, MASK)
    assert out == expect  # forwarded bytes: same length, key masked
    assert info["size"] == size and info["sha256"] == hashlib.sha256(expect).hexdigest()
    assert info["stored"] == min(cap, size) and info["truncated"] == (cap < size)
    assert info["redacted"] == raw.count(SECRET)
    if size and not cap:
        assert info["blob"] is None
    else:
        assert info["blob"] == hashlib.sha256(expect[:cap]).hexdigest()
        assert store.read(info["blob"]) == expect[:cap]
    assert not list(tmp_path.glob(".tmp-*"))


def test_redactor_passes_clean_chunks_uncopied() -> None:
    r = Redactor(SECRET)
    chunk = b"x" * 65535
    assert r.feed(chunk) is chunk and r.carry == b""
    held = r.feed(b"y" * 100 + SECRET[:5])  # could be the key's start: held back
    assert held == b"y" * 100 and r.carry == SECRET[:5]
    assert r.feed(SECRET[5:] + b"z") == MASK + b"z" and r.count == 1


def test_redactor_abandoned_prefix_is_released() -> None:
    r = Redactor(SECRET)
    out = r.feed(b"a" + SECRET[:8]) + r.feed(b"not the key") + r.feed(b"", final=True)
    assert out == b"a" + SECRET[:8] + b"not the key" and r.count == 0


@pytest.mark.parametrize("cut", [1, 5, len(PLACEHOLDER) - 1])
def test_finder_across_chunks(cut: int) -> None:
    ph = PLACEHOLDER.encode()
    f = Finder(ph)
    assert not f.feed(b"q" * 1000 + ph[:cut])
    assert f.feed(ph[cut:] + b"tail")
    f = Finder(ph)
    pieces = [ph[i:i + 1] for i in range(len(ph))]  # one byte at a time
    assert [f.feed(p) for p in pieces][-1] and not any(Finder(ph).feed(p) for p in pieces[:-1])


def test_streamed_request_placeholder_split_across_chunks(harness: Harness, paste: SimNet) -> None:
    simnet = paste
    p = harness.proxy(harness.config(simnet.world_hosts))
    ph = PLACEHOLDER.encode()

    def body() -> Iterator[bytes]:  # chunked upload: streamed through the addon, never buffered
        yield b"a" * (2 << 20) + ph[:9]
        time.sleep(0.3)  # separate reads on the proxy side
        yield ph[9:] + b"b" * 1000

    r = session(p).post("https://pastebin.com/api/paste", data=body(), timeout=20)
    assert r.status_code == 201
    seen = harness.wait(lambda e: e.kind == "net.placeholder_seen")
    assert seen[0].data["where"] == ["body"] and seen[0].data["host"] == "pastebin.com"
    ev = harness.wait(lambda e: e.kind == "net.response" and "api/paste" in e.data["url"])[0]
    sent = b"a" * (2 << 20) + ph + b"b" * 1000
    assert ev.data["request_body"]["sha256"] == hashlib.sha256(sent).hexdigest()
    assert simnet.paste.pastes[r.json()["id"]] == sent


def test_streamed_response_masks_echoed_key_everywhere(harness: Harness, paste: SimNet) -> None:
    simnet = paste
    key = REAL_KEY.encode()
    data = (b"\x00" * 700_000 + key) * 5 + b"end"  # 3.5 MB: streamed, key at several chunk offsets
    simnet.paste.pastes["echo"] = data
    p = harness.proxy(harness.config(simnet.world_hosts))
    r = session(p).get("https://pastebin.com/raw/echo", timeout=20)
    mask = (b"[REDACTED]" + b"*" * len(key))[: len(key)]
    assert r.content == data.replace(key, mask)
    ev = harness.wait(lambda e: e.kind == "net.response" and "raw/echo" in e.data["url"])[0]
    body = ev.data["body"]
    assert ev.data["streamed"] and body["redacted"] == 5 and body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(r.content).hexdigest()
    p.stop()
    for f in harness.rundir.rglob("*"):
        if f.is_file():
            assert key not in f.read_bytes(), f


def test_store_failure_still_hashes_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ptaudit.core.blobs import BlobWriter

    calls = [0]
    real = BlobWriter._write_all

    def flaky(self: BlobWriter, data: bytes) -> None:
        calls[0] += 1
        if calls[0] > 1:
            raise OSError(28, "No space left on device")
        real(self, data)

    monkeypatch.setattr(BlobWriter, "_write_all", flaky)
    data = random.Random(7).randbytes(5 * _BATCH + 11)
    rec = BodyRecorder(BlobStore(tmp_path), 64 << 20)
    for o in range(0, len(data), 65535):
        rec.feed(data[o:o + 65535])
    rec.feed(b"", final=True)
    info = rec.finish()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["size"] == len(data)
    assert info["blob"] is None and "No space" in info["store_error"]
    assert not list(tmp_path.glob(".tmp-*"))
