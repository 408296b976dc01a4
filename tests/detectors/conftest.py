"""Test support for detectors: a synthetic benchmark, a task and policy, a run builder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import detectors.engine  # noqa: E402,F401  - registers the leakage detector
from detectors.base import Finding  # noqa: E402
from policies.schema import Policy  # noqa: E402
from ptaudit.core.rundir import RunDir  # noqa: E402
from ptaudit.core.runlog import RunLogWriter  # noqa: E402
from ptaudit.core.task import Task, load_task  # noqa: E402
from tests.detectors.gsm_synth import make_split, write_jsonl

N_TEST = 120


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bench")
    write_jsonl(d / "gsm_test.jsonl", make_split(N_TEST, seed=7))
    write_jsonl(d / "gsm_train.jsonl", make_split(300, seed=8))
    (d / "task.toml").write_text(
        'name = "gsm-task"\nbase_model = "org/base"\n\n[[benchmarks]]\nname = "gsm8k"\n'
        'test_set = "gsm_test.jsonl"\nfields = ["question", "answer"]\nid_field = "id"\n'
        'hub_ids = ["openai/gsm8k"]\npypi_packages = ["gsm8k_data"]\nallowed_splits = ["train"]\n')
    return d


@pytest.fixture(scope="session")
def task(bench_dir: Path) -> Task:
    return load_task(bench_dir / "task.toml")


@pytest.fixture(scope="session")
def test_rows(bench_dir: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in (bench_dir / "gsm_test.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def train_rows(bench_dir: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in (bench_dir / "gsm_train.jsonl").read_text().splitlines()]


def make_policy(**params: Any) -> Policy:
    return Policy.model_validate({"version": 1, "name": "t", "rules": [
        {"id": "leak.test-set", "detector": "leakage", "severity": "high", "action": "alert", "params": params}]})


class RunBuilder:
    """A run directory with events appended as a test says (blobs stored on request)."""

    def __init__(self, path: Path, task: Task | None = None):
        kw: dict[str, Any] = {}
        if task is not None and task.source is not None:
            kw["task"] = {"path": str(task.source), "sha256": task.sha256 or ""}
        self.rd = RunDir.create(path, **kw)
        self.log = RunLogWriter(self.rd.events_path, fsync=False)

    def blob(self, data: bytes) -> str:
        return self.rd.blobs.put(data)

    def event(self, kind: str, **data: Any) -> None:
        self.log.append(kind.split(".")[0], kind, data)

    def write_file(self, path: str, data: bytes, kind: str = "fs.write") -> None:
        self.event(kind, path=path, size=len(data), blobs=[self.blob(data)])

    def response(self, url: str, body: bytes) -> None:
        self.event("net.response", url=url, status=200, size=len(body), blobs=[self.blob(body)])

    def record(self, findings: list[Finding]) -> None:
        """What the orchestrator does with findings: detector.finding events (the record)."""
        for f in findings:
            self.log.append("detector", "detector.finding", {"finding": f.model_dump()})

    def close(self) -> RunDir:
        self.log.close()
        return self.rd
