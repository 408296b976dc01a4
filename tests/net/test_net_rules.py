"""Pure rule logic (detectors/netrules.py) and the body redactor: tables of inputs."""

from __future__ import annotations

import pytest

from detectors.netrules import (
    ContentParams,
    UrlParams,
    host_decision,
    hub_repo,
    match_content_headers,
    match_content_kind,
    match_url,
)
from monitors.net.body import Redactor


@pytest.mark.parametrize("host,allowed,rule", [
    ("huggingface.co", True, "network.allow_hosts"),
    ("cdn-lfs.huggingface.co", True, "network.allow_hosts"),
    ("evil.huggingface.co.attacker.net", False, "network.default"),
    ("pastebin.com", False, "network.deny_hosts"),
    ("PyPI.org", True, "network.allow_hosts"),
])
def test_host_decision(host: str, allowed: bool, rule: str) -> None:
    d = host_decision(host, "deny", ["huggingface.co", "*.huggingface.co", "pypi.org", "pastebin.com"], ["pastebin.com"])
    assert (d.allowed, d.rule) == (allowed, rule)


@pytest.mark.parametrize("path,expected", [
    ("/api/models/Org/Name/revision/main", ("model", "Org/Name")),
    ("/Org/Name/resolve/main/model.safetensors", ("model", "Org/Name")),
    ("/datasets/o/n/resolve/main/data/test.parquet", ("dataset", "o/n")),
    ("/api/datasets/o/n/tree/main", ("dataset", "o/n")),
    ("/gpt2/resolve/main/config.json", ("model", "gpt2")),
    ("/simple/foo/", None),
])
def test_hub_repo(path: str, expected: object) -> None:
    assert hub_repo(path) == expected


HF_OTHER = UrlParams(hosts=["huggingface.co"], hub="model", except_repos=["{base_model}"])


@pytest.mark.parametrize("method,url,hit", [
    ("GET", "https://huggingface.co/Other/M/resolve/main/model.safetensors", True),
    ("HEAD", "https://huggingface.co/api/models/Other/M", True),
    ("GET", "https://huggingface.co/Org/Base/resolve/main/model.safetensors", False),
    ("GET", "https://huggingface.co/datasets/Other/M/resolve/main/x.parquet", False),
    ("GET", "https://mirror.example/Other/M/resolve/main/model.safetensors", False),
])
def test_match_url(method: str, url: str, hit: bool) -> None:
    assert (match_url("r", HF_OTHER, method, url, "Org/Base") is not None) == hit


def test_match_url_methods_and_paths() -> None:
    p = UrlParams(methods=["POST"], hosts=["pastebin.com"], paths=["/api/*"])
    assert match_url("r", p, "POST", "https://pastebin.com/api/paste", None)
    assert match_url("r", p, "GET", "https://pastebin.com/api/paste", None) is None
    assert match_url("r", p, "POST", "https://pastebin.com/raw/x", None) is None


def test_content_rules() -> None:
    p = ContentParams(except_hosts=["*.huggingface.co"], min_bytes=10)
    assert match_content_kind("r", p, "https://x.org/a", "safetensors", 100)
    assert match_content_kind("r", p, "https://cdn-lfs.huggingface.co/a", "safetensors", 100) is None
    assert match_content_kind("r", p, "https://x.org/a", "json", 100) is None
    assert match_content_kind("r", p, "https://x.org/a", "gguf", 5) is None
    assert match_content_headers("r", p, "https://x.org/m.gguf", {}, 100)
    assert match_content_headers("r", p, "https://x.org/dl", {"content-disposition": 'attachment; filename="a.pt"'}, 100)
    assert match_content_headers("r", p, "https://x.org/readme.md", {}, 100) is None


@pytest.mark.parametrize("chunks", [[b"xx SECRETKEY yy"], [b"xx SECR", b"ETKEY yy"], [b"S", b"ECRETKE", b"Y", b""]])
def test_redactor_across_chunks(chunks: list[bytes]) -> None:
    r = Redactor(b"SECRETKEY")
    out = b"".join(r.feed(c) for c in chunks) + r.feed(b"", final=True)
    assert b"SECRETKEY" not in out and r.count == 1
    assert len(out) == sum(len(c) for c in chunks)  # same length: Content-Length stays right
