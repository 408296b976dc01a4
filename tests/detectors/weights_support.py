"""Tiny real model files for the weights tests: safetensors written by the ``safetensors``
package from numpy arrays, PyTorch zips by ``torch.save``, GGUF by a small writer of the
published layout (the ``gguf`` package is not a dependency)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save

SHAPES = {"model.embed_tokens.weight": (64, 16), "model.layers.0.self_attn.q_proj.weight": (16, 16),
          "model.layers.0.mlp.up_proj.weight": (32, 16), "model.layers.0.input_layernorm.weight": (16,),
          "lm_head.weight": (64, 16)}
CONFIG = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 16, "vocab_size": 64,
          "num_hidden_layers": 1}


def tiny_state(seed: int, shapes: dict[str, tuple[int, ...]] | None = None, dtype: str = "float32") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in (shapes or SHAPES).items()}


def nudged(state: dict[str, np.ndarray], seed: int, scale: float = 0.01) -> dict[str, np.ndarray]:
    """What a little training does: every tensor moves a bit."""
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(v.dtype) for k, v in state.items()}


def st_bytes(state: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    return save(state, metadata=metadata or {"format": "pt"})


def write_model(d: Path, state: dict[str, np.ndarray], config: dict | None = None, shards: int = 1,
                tokenizer: dict | None = None, template: str | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    names = list(state)
    if shards == 1:
        (d / "model.safetensors").write_bytes(st_bytes(state))
    else:
        weight_map = {}
        for i in range(shards):
            part = {k: state[k] for k in names[i::shards]}
            fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            (d / fn).write_bytes(st_bytes(part))
            weight_map.update({k: fn for k in part})
        (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 1}, "weight_map": weight_map}))
    (d / "config.json").write_text(json.dumps(config or CONFIG))
    if tokenizer is not None:
        (d / "tokenizer.json").write_text(json.dumps(tokenizer))
    if template is not None:
        (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "Qwen2Tokenizer", "chat_template": template}))
    return d


def torch_bytes(state: dict[str, np.ndarray]) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, buf)
    return buf.getvalue()


def _gguf_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_bytes(tensors: dict[str, np.ndarray], q8: dict[str, bytes] | None = None, alignment: int = 32) -> bytes:
    """GGUF v3: a few metadata keys (a string, an int, an array), F32 tensors and raw Q8_0 blocks."""
    kv = [("general.architecture", 8, _gguf_str("llama")), ("general.alignment", 4, struct.pack("<I", alignment)),
          ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + b"".join(_gguf_str(t) for t in ("a", "b", "c")))]
    items: list[tuple[str, list[int], int, bytes]] = [(n, list(reversed(a.shape)), 0, a.astype("<f4").tobytes())
                                                      for n, a in tensors.items()]
    for n, raw in (q8 or {}).items():
        items.append((n, [32 * (len(raw) // 34)], 8, raw))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(items), len(kv))
    for k, t, v in kv:
        head += _gguf_str(k) + struct.pack("<I", t) + v
    off, data = 0, b""
    infos = b""
    for n, dims, t, raw in items:
        pad = -off % alignment
        data += b"\0" * pad
        off += pad
        infos += _gguf_str(n) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) \
            + struct.pack("<IQ", t, off)
        data += raw
        off += len(raw)
    head += infos
    return head + b"\0" * (-len(head) % alignment) + data
