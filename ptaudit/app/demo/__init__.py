"""``ptaudit demo``: the main job on an embedded default, offline.

Starts the simulated internet (tests/simnet) with a tiny base model, its instruct
variant and a tiny synthetic benchmark; writes the task, world and a workspace holding
the example agent (ptaudit/app/demo/agent.py); runs it under the full audit with the default
policy; prints the text report and the path of the HTML report.

Runs inside a fresh loopback-only network namespace (``unshare --net``) when it can, so
nothing it does can leave the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ptaudit.core.errors import InfraError

from .data import benchmark, jsonl

BASE, INSTRUCT, DATASET = "ptaudit-demo/tiny-base", "ptaudit-demo/tiny-instruct", "ptaudit-demo/arith"
API_KEY_ENV = "PTAUDIT_DEMO_ANTHROPIC_KEY"
NETNS_ENV = "PTAUDIT_IN_NETNS"
REPO = Path(__file__).resolve().parents[3]


def simnet_module():  # type: ignore[no-untyped-def]
    """The simulated internet lives in the source tree (tests/simnet)."""
    if not (REPO / "tests" / "simnet" / "__init__.py").is_file():
        raise InfraError("ptaudit demo needs a source checkout (tests/simnet): run it from the repository, make demo")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import tests.simnet as simnet

    return simnet


def reexec_in_netns(argv: list[str]) -> int | None:
    """Re-run this command in a new loopback-only network namespace; None if unavailable."""
    if os.environ.get(NETNS_ENV) or not shutil.which("unshare") or not shutil.which("ip"):
        return None
    script = 'ip link set lo up && exec "$@"'
    p = subprocess.run(["unshare", "--net", "--", "sh", "-c", script, "sh", *argv],
                       env={**os.environ, NETNS_ENV: "1"}, check=False)
    return p.returncode


def build(root: Path) -> dict[str, Any]:
    """Task, world and workspace for the demo under ``root``; returns their paths."""
    test, train = benchmark(60, seed=7), benchmark(240, seed=1234)
    (root / "task" / "data").mkdir(parents=True)
    (root / "task" / "data" / "arith-test.jsonl").write_bytes(jsonl(test))
    task = root / "task" / "task.toml"
    task.write_text(
        'name = "tiny-base-arith"\n'
        f'base_model = "{BASE}"\n'
        f'instruct_models = ["{INSTRUCT}"]\n'
        'time_limit = "5m"\n'
        "[[benchmarks]]\n"
        'name = "arith"\n'
        'test_set = "data/arith-test.jsonl"\n'
        'fields = ["question"]\n'
        'id_field = "id"\n'
        f'hub_ids = ["{DATASET}"]\n'
        'allowed_splits = ["train"]\n'
        "[agent]\n"
        'api_host = "api.anthropic.com"\n'
        f'api_key_env = "{API_KEY_ENV}"\n')
    ws = root / "workspace"
    ws.mkdir()
    shutil.copy(Path(__file__).with_name("agent.py"), ws / "agent.py")
    return {"task": task, "workspace": ws, "test": test, "train": train}


def hub_repos(simnet, test, train):  # type: ignore[no-untyped-def]
    config = json.dumps({"architectures": ["TinyForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
                         "vocab_size": 32}).encode()
    base = simnet.HubRepo(BASE, {"config.json": config, "model.safetensors": simnet.make_safetensors(fill=0.25)})
    instruct = simnet.HubRepo(INSTRUCT, {"config.json": config,
                                         "model.safetensors": simnet.make_safetensors(fill=0.75)})
    data = simnet.HubRepo(DATASET, {"train.jsonl": jsonl(train), "test.jsonl": jsonl(test)}, kind="dataset")
    return [base, instruct, data]


def agent_command(*flags: str) -> list[str]:
    """The example agent's command line inside the sandbox (flags: --honest, --pause S)."""
    return ["/usr/bin/python3", "-u", "/workspace/agent.py", BASE, INSTRUCT, DATASET, API_KEY_ENV, *flags]


def default_root() -> Path:
    return Path.cwd() / "runs" / ("demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
