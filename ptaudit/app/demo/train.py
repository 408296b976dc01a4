"""``ptaudit demo --train``: a real ML workload, audited end to end on CPU.

The agent (train_agent.py) pip-installs safetensors and tokenizers from a local PEP 503
index that the world maps as pypi.org / files.pythonhosted.org (wheels repacked from the
distributions installed here: nothing is downloaded), fetches the train split from the
simulated Hub, imports torch from a read-only mount of the host's CPU torch, trains a tiny
transformer for a few steps and writes final_model/ as safetensors.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from ptaudit.core.errors import InfraError

from . import DATASET, hub_repos
from .data import benchmark, jsonl

PACKAGES = ["numpy", "safetensors", "tokenizers"]
TORCH_IN_SANDBOX = "/opt/torch"


def torch_mounts() -> dict[str, Path]:
    """Sandbox path -> host path of torch and what it requires, each mounted read-only under
    /opt/torch: the agent gets this torch and nothing else of the host's site-packages."""
    try:
        from tests.simnet.wheels import closure
    except ImportError as exc:
        raise InfraError(f"ptaudit demo --train needs a source checkout (tests/simnet): {exc}") from None
    try:
        dists = closure(["torch"])
    except metadata.PackageNotFoundError as exc:
        raise InfraError(f"ptaudit demo --train needs the CPU torch on the host: pip install torch==2.13.0 "
                         f"(make setup); missing: {exc}") from None
    mounts: dict[str, Path] = {}
    for d in dists:
        root = Path(str(d.locate_file("")))
        for f in d.files or []:
            top = f.parts[0]
            if top.startswith("..") or top.endswith((".dist-info", ".data", ".pth")) or top in (
                    "__pycache__", "_distutils_hack"):
                continue
            mounts.setdefault(f"{TORCH_IN_SANDBOX}/{top}", root / top)
    return mounts


def build(root: Path, simnet: Any, packages: dict[str, dict[str, bytes]] | None = None) -> dict[str, Any]:
    """Task, workspace and simulated-internet content for the training demo under ``root``
    (``packages``: an index already built, to reuse)."""
    from tests.simnet.wheels import index_packages

    test, train = benchmark(60, seed=7), benchmark(240, seed=1234)
    (root / "task" / "data").mkdir(parents=True)
    (root / "task" / "data" / "arith-test.jsonl").write_bytes(jsonl(test))
    mounts = "".join(f'"{k}" = "{v}"\n' for k, v in sorted(torch_mounts().items()))
    task = root / "task" / "task.toml"
    task.write_text(
        'name = "tiny-train-arith"\n'
        'base_model = "ptaudit-demo/tiny-base"\n'
        'time_limit = "10m"\n'
        "[ro_mounts]\n" + mounts +
        "[[benchmarks]]\n"
        'name = "arith"\n'
        'test_set = "data/arith-test.jsonl"\n'
        'fields = ["question"]\n'
        'id_field = "id"\n'
        f'hub_ids = ["{DATASET}"]\n'
        'allowed_splits = ["train"]\n')
    ws = root / "workspace"
    ws.mkdir()
    shutil.copy(Path(__file__).with_name("train_agent.py"), ws / "train_agent.py")
    return {"task": task, "workspace": ws, "repos": hub_repos(simnet, test, train),
            "packages": packages if packages is not None else index_packages(PACKAGES)}


def agent_command(*flags: str) -> list[str]:
    """The training agent's command line inside the sandbox (flags: --leak, --steps N)."""
    return ["/usr/bin/python3", "-u", "/workspace/train_agent.py", DATASET, *flags]
