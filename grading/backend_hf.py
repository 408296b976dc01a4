"""The transformers backend: for CPU, tests, and GPUs without vLLM.

Prompts are sorted by length and generated in batches, left-padded (decoder-only models
continue from the right edge), under ``torch.inference_mode``. Weights load only from
safetensors and never with remote code (the directory was checked first anyway).
"""

from __future__ import annotations

from pathlib import Path

from .generate import OnBatch, Sampling, cut_at_stop
from .modeldir import ModelDirError


class TransformersBackend:
    name = "transformers"

    def __init__(self, model_dir: Path, batch_size: int, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), trust_remote_code=False, use_safetensors=True,
                                                         local_files_only=True, dtype=dtype)
        except (ValueError, OSError, KeyError) as exc:
            raise ModelDirError(f"model directory refused: {model_dir}: transformers cannot load it: "
                                f"{str(exc).splitlines()[0][:300]}") from None
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size

    def generate(self, prompts: list[list[int]], sampling: Sampling, stop_ids: list[int], pad_id: int,
                 on_batch: OnBatch | None = None) -> list[list[int]]:
        from transformers import GenerationConfig

        torch = self.torch
        kw: dict[str, object] = {"max_new_tokens": sampling.max_tokens, "eos_token_id": stop_ids or None,
                                 "pad_token_id": pad_id}
        if sampling.temperature > 0:
            kw.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
            torch.manual_seed(sampling.seed)
        else:
            kw.update(do_sample=False)
        cfg = GenerationConfig(**kw)
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out: list[list[int]] = [[] for _ in prompts]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = max(len(prompts[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                p = prompts[i]
                ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[row, width - len(p):] = 1
            with torch.inference_mode():
                gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          generation_config=cfg)
            tokens = 0
            for row, i in enumerate(chunk):
                out[i] = cut_at_stop(gen[row, width:].tolist(), stop_ids)
                tokens += len(out[i])
            if on_batch is not None:
                on_batch(len(chunk), tokens)
        return out

    def close(self) -> None:
        del self.model
