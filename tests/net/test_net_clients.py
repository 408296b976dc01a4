"""Real clients through the proxy: huggingface_hub downloads, and a 2 GiB stream."""

from __future__ import annotations

import hashlib
import threading
import time

import psutil
import pytest
import requests

from tests.net.support import BASE, Harness, proxies_env, run_py
from tests.simnet import SimNet, make_safetensors, pattern_sha256

HF_SNAPSHOT = """
import sys
from huggingface_hub import snapshot_download, hf_hub_download
path = snapshot_download(sys.argv[1] if len(sys.argv) > 1 else {repo!r}, cache_dir={cache!r})
print(path)
"""


@pytest.fixture
def proxy(harness: Harness, simnet: SimNet):
    return harness.proxy(harness.config(simnet.world_hosts))


def hf_env(proxy, tmp_path) -> dict[str, str]:
    return proxies_env(proxy, proxy.ca_cert_path, HF_ENDPOINT="https://huggingface.co", HF_HOME=str(tmp_path / "hf"),
                       HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_ETAG_TIMEOUT="10", HF_HUB_DOWNLOAD_TIMEOUT="20")


def test_hf_base_model_downloads(harness: Harness, proxy, tmp_path) -> None:
    code = HF_SNAPSHOT.format(repo=BASE.base_model, cache=str(tmp_path / "cache"))
    out = run_py(code, hf_env(proxy, tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    snap = out.stdout.strip().splitlines()[-1]
    assert open(f"{snap}/model.safetensors", "rb").read() == make_safetensors()
    cdn = harness.wait(lambda e: e.kind == "net.response" and "cdn-lfs" in e.data["url"])[0]
    assert cdn.data["sniff"] == "safetensors" and not cdn.data["blocked"]
    req = [e for e in harness.events("net.request") if "cdn-lfs" in e.data["url"]][0]
    assert req.data["via_repo"] == f"model:{BASE.base_model}"  # the CDN fetch is tied to its Hub repo


def test_hf_other_model_blocked(harness: Harness, proxy, tmp_path) -> None:
    code = HF_SNAPSHOT.format(repo=BASE.other_model, cache=str(tmp_path / "cache"))
    out = run_py(code, hf_env(proxy, tmp_path))
    assert out.returncode != 0
    assert "403" in out.stderr or "Forbidden" in out.stderr or "net.hf-other-models" in out.stderr, out.stderr[-2000:]
    ev = harness.wait(lambda e: e.kind == "net.blocked")
    assert ev[0].data["rule"] == "net.hf-other-models"
    assert not [e for e in harness.events("net.response") if "cdn-lfs" in e.data["url"]]


SIZE = 2 << 30


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http"])
def test_2gib_stream_flat_memory(harness: Harness, proxy, scheme: str) -> None:
    """2 GiB through the addon: whole stream hashed, 64 MiB + head stored, RSS bounded."""
    bound = 250 << 20  # measured ~75 MiB for plain mitmdump streaming (measured-facts.md)
    mitm = psutil.Process(proxy.pid)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], mitm.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"http": proxy.url, "https": proxy.url}
    s.verify = str(proxy.ca_cert_path)
    got = 0
    t0 = time.monotonic()
    with s.get(f"{scheme}://cdn-lfs.huggingface.co/bytes/{SIZE}", stream=True, timeout=60) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(1 << 20):
            got += len(chunk)
    secs = time.monotonic() - t0
    stop.set()
    t.join()
    assert got == SIZE
    ev = harness.wait(lambda e: e.kind == "net.response", timeout=30)[0]
    body = ev.data["body"]
    assert body["size"] == SIZE and body["stored"] == 64 << 20 and body["truncated"]
    assert body["sha256"] == pattern_sha256(SIZE)
    print(f"2 GiB {scheme} through addon: {SIZE / secs / 1e6:.0f} MB/s, mitmdump peak RSS {peak[0] >> 20} MiB")
    assert peak[0] < bound, f"mitmdump peak RSS {peak[0] >> 20} MiB over {bound >> 20} MiB"
    blob = harness.rundir / "blobs" / body["blob"][:2] / body["blob"]
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == body["blob"]
