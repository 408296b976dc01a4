"""The proxy's weights tracker on its own: bodies and Range pieces of one resource join
into one set of per-tensor fingerprints (the addon feeds it the same way)."""

from __future__ import annotations

import json

from detectors.fingerprint import tensor_fp
from monitors.net.weights_track import WeightsTracker, content_range
from tests.detectors.weights_support import st_bytes, tiny_state

STATE = tiny_state(21, {"a": (300, 1000), "b": (7,), "c": (400, 700)})
DATA = st_bytes(STATE)
WANT = {k: tensor_fp(v.tobytes()) for k, v in STATE.items()}
URL = "https://dl.weights-mirror.net/d/9f"


def _body(t: WeightsTracker, data: bytes, status: int = 200, start: int = 0, url: str = URL, chunk: int = 65536,
          etag: str | None = '"abc"', cut: bool = False):  # type: ignore[no-untyped-def]
    headers = {"content-length": str(len(data))}
    if etag:
        headers["etag"] = etag
    if status == 206:
        headers["content-range"] = f"bytes {start}-{start + len(data) - 1}/{len(DATA)}"
    w = t.body(url, "dl.weights-mirror.net", "f1", status, "GET", headers)
    if w is None:
        return None
    for i in range(0, len(data), chunk):
        w.feed(data[i:i + chunk])
    return w.finish(blocked=cut)


def test_whole_body() -> None:
    ev = _body(WeightsTracker(), DATA)
    assert ev is not None and ev.complete and {t.name: t.fp for t in ev.tensors} == WANT
    assert ev.range == [0, len(DATA)] and ev.format == "safetensors"
    assert json.loads(ev.model_dump_json())["url"] == URL


def test_range_pieces_in_any_order_join() -> None:
    t = WeightsTracker()
    third = len(DATA) // 3
    assert _body(t, DATA[third:2 * third], 206, third) is None  # before the header: parked, no event yet
    ev = _body(t, DATA[:third], 206, 0)
    assert ev is not None and not ev.complete
    ev = _body(t, DATA[2 * third:], 206, 2 * third)
    assert ev is not None and ev.complete and {x.name: x.fp for x in ev.tensors} == WANT
    assert ev.pieces == [[0, len(DATA)]]


def test_not_weights_and_cut_bodies() -> None:
    t = WeightsTracker()
    assert _body(t, b'{"not": "weights"}' * 100) is None
    assert _body(t, b"tiny") is None
    assert t.body(URL, "h", "f", 304, "GET", {}) is None and t.body(URL, "h", "f", 200, "HEAD", {}) is None
    assert t.body(URL, "h", "f", 200, "GET", {"content-encoding": "gzip"}) is None
    ev = _body(t, DATA[:5000], cut=True)  # the proxy cut it after the first chunk: the table is still evidence
    assert ev is not None and ev.blocked and not ev.complete and {x.name for x in ev.tensors} == set(STATE)
    assert content_range("bytes 10-19/100") == (10, 20, 100) and content_range("bytes 0-9/*") == (0, 10, None)


def test_resources_are_bounded() -> None:
    t = WeightsTracker(max_resources=2)
    for i in range(5):
        assert _body(t, DATA, url=f"{URL}{i}") is not None
    assert len(t.resources) == 2 and t.dropped == 3
