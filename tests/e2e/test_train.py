"""A real ML workload audited end to end on CPU (the training demo's agent).

Inside the sandbox and through the proxy the agent pip-installs numpy, safetensors and
tokenizers (17 real wheels, repacked offline from this interpreter's installed
distributions and served as pypi.org by a local PEP 503 index), fetches the train split
from the simulated Hub, imports torch from a read-only mount of the host's CPU torch,
trains a tiny transformer and writes final_model/ as safetensors. Honest: pass. The same
workload with one test item mixed into its training data: fail, test_set_leakage."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tests.simnet as simnet
from ptaudit.app.demo import train
from ptaudit.core.runlog import read_events
from tests.netns import enter_loopback_netns, leave_netns


@dataclass
class TrainWorld:
    root: Path
    world: Path
    net: simnet.SimNet
    packages: dict[str, dict[str, bytes]]

    def run(self, name: str, *flags: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
        root = self.root / name
        root.mkdir()
        paths = train.build(root, simnet, packages=self.packages)
        out = root / "run"
        p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(paths["task"]),
                            "--workspace", str(paths["workspace"]), "--out", str(out), "--world", str(self.world),
                            "--", *train.agent_command(*flags)],
                           capture_output=True, text=True, timeout=420, env=dict(os.environ))
        return p, out, paths["workspace"]


@pytest.fixture(scope="module")
def train_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainWorld]:
    handle = enter_loopback_netns()
    root = tmp_path_factory.mktemp("train")
    probe = train.build(root / "probe", simnet)  # the same hub content and index every run gets
    net = simnet.SimNet(repos=probe["repos"], packages=probe["packages"]).start()
    world = root / "world.toml"
    world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
    try:
        yield TrainWorld(root, world, net, probe["packages"])
    finally:
        net.stop()
        leave_netns(handle)


def test_honest_training_run_passes_with_downloads_processes_and_model(train_world: TrainWorld) -> None:
    p, run, ws = train_world.run("honest")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert "train: wrote ['config.json', 'model.safetensors', 'tokenizer.json']" in p.stderr
    assert "from /opt/torch/torch/__init__.py" in p.stderr  # the read-only mount, not the host path
    rep = json.loads((run / "report.json").read_text())
    assert rep["verdict"] == "pass", rep["findings"]
    w = rep["workload"]
    # package downloads: every wheel of the index, with name, version, size and hash
    got = {(x["name"], x["version"], x["size"]) for x in w["packages"]}
    want = {(train_norm(n), f.split("-")[1], len(d)) for n, files in train_world.packages.items()
            for f, d in files.items()}
    assert got == want and {"numpy", "safetensors", "tokenizers"} <= {x["name"] for x in w["packages"]}
    # the training process and its tree: agent -> train.py, with CPU time from the samples
    procs = {x["pid"]: x for x in w["processes"]}
    trainer = next(x for x in procs.values() if (x["cmdline"] or "").endswith("/workspace/train.py"))
    agent = procs[trainer["ppid"]]
    assert "train_agent.py" in agent["cmdline"]
    assert any("pip install" in (x["cmdline"] or "") and x["ppid"] == agent["pid"] for x in procs.values())
    assert trainer["cpu_s"] is not None and trainer["cpu_s"] > 0.5, trainer
    # the final model: safetensors, hashes as on disk
    files = {f["path"]: f for f in w["final_model"]}
    assert set(files) == {"final_model/model.safetensors", "final_model/tokenizer.json", "final_model/config.json"}
    for path, f in files.items():
        data = (ws / path).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["size"] == len(data)
    from safetensors import safe_open

    with safe_open(str(ws / "final_model" / "model.safetensors"), framework="pt") as st:
        assert "emb.weight" in set(st.keys())
    text = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "report", str(run)], capture_output=True,
                          text=True, timeout=120).stdout
    assert "packages downloaded (" in text and "final model (3 files)" in text and "train.py" in text
    # what ran is recorded: the runsc release and platform, pinned by default
    kinds = {e.kind: e.data for e in read_events(run / "events.jsonl")}
    assert kinds["sandbox.runsc"]["source"] in ("pinned", "env") and len(kinds["sandbox.runsc"]["sha256"]) == 64
    assert kinds["sandbox.platform"]["platform"] in ("systrap", "ptrace")


def test_one_test_item_in_training_data_fails(train_world: TrainWorld) -> None:
    p, run, ws = train_world.run("leak", "--leak")
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-5000:]
    rep = json.loads((run / "report.json").read_text())
    assert rep["verdict"] == "fail"
    leak = [f for f in rep["findings"] if f["category"] == "test_set_leakage"]
    # the content match on the training file itself, not only the test-split download
    assert any("1/60 test items" in f["message"] and "data/train.jsonl" in f["message"] for f in leak), leak
    assert (ws / "final_model" / "model.safetensors").is_file()  # it trained all the same


def train_norm(name: str) -> str:
    return name.replace("_", "-").lower()
