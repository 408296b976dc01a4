"""Weights fingerprinted as they stream through the real mitmdump: a whole body and Range
pieces out of order give the same per-tensor fingerprints (net.weights); other bodies none."""

from __future__ import annotations

import hashlib

from detectors.fingerprint import ResourceFingerprint
from ptaudit.core.events import NetWeights
from tests.net.support import Harness, session
from tests.simnet import SimNet, make_safetensors


def _expected(data: bytes) -> dict[str, str | None]:
    fp = ResourceFingerprint()
    seg = fp.segment(0)
    seg.feed(data)
    seg.close()
    fp.finish()
    return {t["name"]: t["fp"] for t in fp.result()["tensors"]}


def test_whole_and_ranged_weights_bodies(harness: Harness, simnet: SimNet) -> None:
    p = harness.proxy(harness.config(simnet.world_hosts, rules=[]))
    data = make_safetensors({"a": ("F32", [300, 300]), "b": ("F32", [7])}, fill=0.25)  # 360 KB
    sha = hashlib.sha256(data).hexdigest()
    alias = hashlib.sha256(b"alias" + data).hexdigest()  # the same file at a second URL
    simnet.hub.by_sha[sha] = simnet.hub.by_sha[alias] = data
    cdn = "https://cdn-lfs.huggingface.co/repos"
    s = session(p)
    assert s.get(f"{cdn}/{sha[:2]}/{sha[2:4]}/{sha}", timeout=10).content == data
    n = len(data)
    url = f"{cdn}/{alias[:2]}/{alias[2:4]}/{alias}"
    for a, b in ((n // 2, n - 1), (0, 99), (100, n // 2 - 1)):  # the second half first, then the header
        r = s.get(url, headers={"Range": f"bytes={a}-{b}"}, timeout=10)
        assert r.status_code == 206 and r.content == data[a:b + 1]
    s.get("https://huggingface.co/api/models/Org/Base", timeout=10)  # JSON: not weights
    evs = [NetWeights.model_validate(e.data) for e in harness.wait(lambda e: e.kind == "net.weights", count=3)]
    want = _expected(data)
    whole, *ranged = evs
    assert whole.complete and whole.range == [0, n] and whole.status == 200 and whole.format == "safetensors"
    assert {t.name: t.fp for t in whole.tensors} == want
    # the half that came before its header was parked: no event for it; the header piece brings the table,
    # the last piece completes every tensor
    assert [e.range for e in ranged] == [[0, 100], [100, n // 2]], [e.range for e in ranged]
    assert not ranged[0].complete and ranged[-1].complete and ranged[-1].pieces == [[0, n]]
    assert {t.name: t.fp for t in ranged[-1].tensors} == want
    assert whole.resource != ranged[-1].resource and all(e.resource == ranged[0].resource for e in ranged)
    assert not [e for e in harness.events("net.weights") if "api/models" in e.data["url"]]
    # the recorded response bodies are untouched by the fingerprinting
    resp = [e for e in harness.events("net.response") if e.data["url"] == url]
    assert [e.data["status"] for e in resp] == [206, 206, 206]
