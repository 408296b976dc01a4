"""net.content over recorded runs: weights by content or name, and the refused request for
a weights file (evidence although nothing arrived)."""

from __future__ import annotations

from pathlib import Path

from detectors.engine import replay
from policies.schema import Policy
from tests.detectors.conftest import RunBuilder


def _policy() -> Policy:
    return Policy.model_validate({"version": 1, "name": "t", "rules": [
        {"id": "net.weights-elsewhere", "detector": "net.content", "severity": "high", "action": "alert",
         "params": {"except_hosts": ["huggingface.co", "*.huggingface.co"]}}]})


def test_refused_request_naming_weights_is_a_finding(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path / "run")
    refused = dict(method="GET", host="dl.mirror.net", blocked=True, reason="host not in allow_hosts", headers=[])
    b.event("net.request", url="https://dl.mirror.net/m/model.safetensors", **refused)
    b.event("net.request", url="https://dl.mirror.net/d/5f0c2e", **refused)  # opaque: nothing names weights
    b.event("net.request", url="https://huggingface.co/org/base/resolve/main/model.safetensors",
            **{**refused, "host": "huggingface.co"})  # an excepted host
    b.event("net.request", url="https://ok.net/model.safetensors", method="GET", host="ok.net", headers=[])
    b.event("net.response", url="https://ok.net/model.safetensors", method="GET", host="ok.net", status=200,
            headers=[["Content-Type", "application/octet-stream"]], size=4096)  # let through: the response decides
    b.close()
    found = replay(b.rd.path, _policy(), None).findings
    by_url = {f.subject: f for f in found}
    assert set(by_url) == {"https://dl.mirror.net/m/model.safetensors", "https://ok.net/model.safetensors"}, by_url
    refused_f = by_url["https://dl.mirror.net/m/model.safetensors"]
    assert refused_f.category == "checkpoint_download" and "refused by the proxy" in refused_f.message
    assert refused_f.evidence[0]["blocked"] is True
    assert "refused" not in by_url["https://ok.net/model.safetensors"].message
