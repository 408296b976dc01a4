"""Grading's transformers backend on a real GPU (no pytest; for a GPU check machine).

    python bench/gpu_grading_check.py [--layers 16] [--new 128]

Builds a random-weight ~1B-parameter Qwen3-shape model on the machine (hidden 2048,
16 layers, vocab 32k: no hub), generates greedily through ``grading.backend_hf`` at
batch 1 and 64 (128-token prompts, ``--new`` new tokens) and samples NVML every 0.5 s
meanwhile. Prints one JSON line per phase (tokens/s, GPU util and memory seen, power).
Exit 2 without CUDA. Not run in this repository's CI (no GPU there).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def nvml_sampler(stop: threading.Event, out: list[dict[str, float]]) -> None:
    import pynvml

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    while not stop.wait(0.5):
        u = pynvml.nvmlDeviceGetUtilizationRates(h)
        m = pynvml.nvmlDeviceGetMemoryInfo(h)
        out.append({"util": u.gpu, "mem_gib": m.used / 2**30, "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--new", type=int, default=128)
    args = ap.parse_args()
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from grading.backend_hf import TransformersBackend
    from grading.generate import Sampling

    if not torch.cuda.is_available():
        print("no CUDA device visible to torch")
        return 2
    cfg = Qwen3Config(vocab_size=32000, hidden_size=2048, intermediate_size=6144, num_hidden_layers=args.layers,
                      num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=1, pad_token_id=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        model = Qwen3ForCausalLM(cfg).to(torch.bfloat16)
        params = sum(p.numel() for p in model.parameters())
        model.save_pretrained(tmp, safe_serialization=True)
        del model
        backend = TransformersBackend(Path(tmp), batch_size=64)
        print(json.dumps({"phase": "load", "params_b": round(params / 1e9, 3), "s": round(time.monotonic() - t0, 1),
                          "device": torch.cuda.get_device_name(0), "torch": torch.__version__}), flush=True)
        g = torch.Generator().manual_seed(0)
        for batch in (1, 64):
            prompts = torch.randint(2, 32000, (batch, 128), generator=g).tolist()
            backend.generate(prompts, Sampling(max_tokens=8), [], 0)  # warm-up
            samples: list[dict[str, float]] = []
            stop = threading.Event()
            th = threading.Thread(target=nvml_sampler, args=(stop, samples), daemon=True)
            th.start()
            t0 = time.monotonic()
            out = backend.generate(prompts, Sampling(max_tokens=args.new), [], 0)
            torch.cuda.synchronize()
            dt = time.monotonic() - t0
            stop.set()
            th.join(2)
            toks = sum(len(o) for o in out)
            print(json.dumps({"phase": f"batch {batch}", "tokens": toks, "s": round(dt, 2),
                              "tok_s": round(toks / dt, 1), "nvml_samples": len(samples),
                              "util_max": max((s["util"] for s in samples), default=None),
                              "mem_gib_max": round(max((s["mem_gib"] for s in samples), default=0), 2),
                              "power_w_max": round(max((s["power_w"] for s in samples), default=0), 1)}),
                  flush=True)
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
