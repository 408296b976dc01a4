"""Egress fails closed: only the audit proxy path leads out.

The whole scenario runs once, in a private network namespace, by
egress_scenario.py; each test checks one attempt. HTTPS to a world host and the
proxy refusing 127.0.0.1 need the audit addon: integration tests cover those.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.testing import reexec_in_netns

from .conftest import needs_runsc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.runsc, needs_runsc,
              pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare"),
              pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import mitmproxy"]).returncode != 0,
                                 reason="needs mitmproxy")]


@pytest.fixture(scope="module")
def egress(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("egress") / "result.json"
    rc = reexec_in_netns([sys.executable, "-m", "tests.sandbox.egress_scenario", str(out)],
                         env={"PYTHONPATH": str(ROOT)})
    assert rc == 0 and out.is_file(), "egress scenario failed (see captured output)"
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_http_via_proxy_works(egress: dict[str, Any]) -> None:
    assert "hello from host" in egress["stdout"] and "PROXY_OK" in egress["stdout"], egress["stderr"]
    assert "/via-proxy" in egress["hits"][0]  # mitmdump forwards the absolute-form request
    bundle = next(d for k, d in egress["events"] if k == "sandbox.bundle")
    assert bundle["proxied"] and "--host-uds=open" in bundle["flags"]


def test_noproxy_curl_fails(egress: dict[str, Any]) -> None:
    assert "NOPROXY_FAIL" in egress["stdout"]
    assert not any("direct-noproxy" in h for h in egress["hits"])


def test_raw_socket_fails(egress: dict[str, Any]) -> None:
    assert "RAW_FAIL" in egress["stdout"] and "RAW_OK" not in egress["stdout"]
    assert not any("direct-raw" in h for h in egress["hits"])


def test_dns_fails_and_server_saw_only_proxied(egress: dict[str, Any]) -> None:
    assert "DNS_FAIL" in egress["stdout"]
    assert len(egress["hits"]) == 1
    assert [k for k, _ in egress["events"]][-2:] == ["sandbox.exit", "sandbox.cleanup"]
