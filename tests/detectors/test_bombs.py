"""Decompression bombs and deep nesting through ``ptaudit scan``: bounded time and memory.

Regression bounds, measured on this machine kind (issue 11, then again with the numpy
matcher of leakage v2): each bomb ≤ 8.2 s of CPU and ≤ 160 MiB peak RSS (measured with
leakage v2: 5.2 s and 119–123 MiB for the zip bombs, 124 MiB for the gzip; an empty scan
peaks at 77 MiB, numpy and the index included: the bombs add ~45 MiB whatever their size). CPU time, not wall time: these tests share a loaded machine, and wall
time would measure the load. The bombs are built in a second or two (tests/detectors/bombs.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.detectors.bombs import deep_json, gzip_zeros, nested_zip_bomb, zip_bomb
from tests.support import ROOT

MAX_CPU_S = 8.2
MAX_RSS_MIB = 160

_MEASURE = """
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "cpu": ru.ru_utime + ru.ru_stime, "rss_mib": ru.ru_maxrss / 1024,
                  "out": p.stdout, "err": p.stderr[-2000:]}))
"""


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bombs")
    five = zip_bomb(5, 1 << 30)  # 5 members of 1 GiB: 5 GiB
    files = {"zip-5GiB.zip": five, "zip-320GiB.zip": nested_zip_bomb(64, five),  # 64 x 5 GiB
             "zeros-2GiB.gz": gzip_zeros(2 << 30), "deep-200k.json": deep_json(200_000)}
    for name, data in files.items():
        (d / name).write_bytes(data)
    task = d / "task"
    (task / "data").mkdir(parents=True)
    (task / "data" / "test.jsonl").write_text("".join(
        json.dumps({"id": i, "question": f"How many apples does farmer {i} have after selling {i * 3} of them?"}) + "\n"
        for i in range(50)))
    (task / "task.toml").write_text('name = "t"\nbase_model = "org/base"\n[[benchmarks]]\nname = "b"\n'
                                    'test_set = "data/test.jsonl"\nfields = ["question"]\nid_field = "id"\n')
    return {**{n: d / n for n in files}, "task": task / "task.toml"}


@pytest.mark.parametrize("name", ["zip-5GiB.zip", "zip-320GiB.zip", "zeros-2GiB.gz", "deep-200k.json"])
def test_scan_of_a_bomb_is_bounded(bombs: dict[str, Path], name: str) -> None:
    cmd = [sys.executable, "-m", "ptaudit.app.cli.main", "scan", str(bombs[name]), "--task", str(bombs["task"]),
           "--format", "json"]
    p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, timeout=600, cwd=ROOT)
    m = json.loads(p.stdout)
    assert "Traceback" not in m["err"], m
    found = json.loads(m["out"])["findings"]
    if name.endswith(".json"):
        assert m["rc"] == 0 and found == [], m  # nesting is bounded, the text is scanned whole
    else:  # a cap stopped the decoding: never a silent pass, one finding saying what was skipped
        assert m["rc"] == 1 and [(f["category"], f["subject"]) for f in found] == [
            ("monitor_fault", f"leakage-scan:{name}")], m
        assert "rest not scanned" in found[0]["message"], found
    assert m["cpu"] <= MAX_CPU_S, f"{name}: {m['cpu']:.1f} s of CPU"
    assert m["rss_mib"] <= MAX_RSS_MIB, f"{name}: {m['rss_mib']:.0f} MiB peak RSS"
