"""HumanEval-style execution happens inside a network-less gVisor sandbox: completions
that try the network or the host fail there and leave no trace on the host."""

from __future__ import annotations

import http.server
import threading
import uuid
from pathlib import Path

import pytest

from grading.humaneval import extract_code, score_humaneval
from grading.items import Item
from tests.sandbox.conftest import needs_runsc

PROMPT = 'import math\n\n\ndef hyp(a, b):\n    """Length of the hypotenuse."""\n'
TEST = "def check(f):\n    assert abs(f(3, 4) - 5) < 1e-9\n    assert abs(f(5, 12) - 13) < 1e-9\n"
ITEM = Item("HumanEval/x", PROMPT, TEST, {"entry_point": "hyp"})


def test_code_extraction_forms() -> None:
    cont = "    return math.hypot(a, b)\n\n\ndef unrelated():\n    pass\n"
    assert extract_code(ITEM, cont).rstrip() == PROMPT + "    return math.hypot(a, b)"
    fenced = "Here you go:\n```python\ndef hyp(a, b):\n    return math.sqrt(a*a + b*b)\n```\nDone."
    code = extract_code(ITEM, fenced)
    assert code.startswith("import math\n") and "def hyp(a, b):\n    return math.sqrt" in code


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@needs_runsc
@pytest.mark.runsc
def test_completions_run_in_gvisor_without_network_or_host_access(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    marker = Path("/tmp") / f"ptaudit-humaneval-{uuid.uuid4().hex}"
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    try:
        completions = {
            "correct": "    return math.hypot(a, b)\n",
            "wrong": "    return a + b\n",
            # passes only where /proc is gVisor's: proof the code ran in the sandbox
            "in_gvisor": "    assert open('/proc/version').read().startswith('Linux version 4.4.0')\n"
                         "    return math.hypot(a, b)\n",
            "network": f"    import urllib.request\n    urllib.request.urlopen('http://127.0.0.1:{port}/leak', timeout=3)\n"
                       "    return math.hypot(a, b)\n",
            "host_file": f"    open({str(secret)!r}).read()\n    return math.hypot(a, b)\n",
            "host_write": f"    open({str(marker)!r}, 'w').write('x')\n    return math.hypot(a, b)\n",
            "early_exit": "    import os\n    os._exit(0)\n",
            "forever": "    while True:\n        pass\n",
            "after_forever": "    return (a * a + b * b) ** 0.5\n",
        }
        scores = score_humaneval([ITEM] * len(completions), list(completions.values()), time_limit_s=3.0)
    finally:
        server.shutdown()
        server.server_close()
    got = dict(zip(completions, scores, strict=True))
    assert {k: s for k, (s, _) in got.items()} == {
        "correct": 1.0, "wrong": 0.0, "in_gvisor": 1.0, "network": 0.0, "host_file": 0.0, "host_write": 1.0,
        "early_exit": 0.0, "forever": 0.0, "after_forever": 1.0}
    assert "AssertionError" in got["wrong"][1]["detail"]
    assert "URLError" in got["network"][1]["detail"] and _Hits.hits == []
    assert "FileNotFoundError" in got["host_file"][1]["detail"]
    # the write succeeded inside (the sandbox's own /tmp) and never reached the host
    assert not marker.exists()
    assert got["forever"][1]["detail"] == "timeout"
