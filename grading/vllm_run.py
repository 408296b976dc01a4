"""vLLM generation, importable in-process or run as a worker in another interpreter.

Standard library and ``vllm`` only: it runs as ``PYTHON -I vllm_run.py`` in an interpreter
that has vLLM but not ptaudit (vLLM pins its own torch, so it lives in its own virtualenv).

Worker protocol: one JSON object per line on stdin, one reply per line on the original
stdout (everything vLLM prints goes to stderr):
  {"op": "load", "model": DIR, "max_model_len": N, "seed": S}        -> {"ok": true, "load_s": ...}
  {"op": "generate", "prompts": [[ids]], "max_tokens": N, "temperature": T, "top_p": P,
   "seed": S, "stop_ids": [ids]}                                      -> {"ok": true, "outputs": [[ids]]}
Errors reply {"ok": false, "error": "..."} and end the worker.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Never phone home. Only the no-telemetry switches are set in a host process (the offline
# ones would leak into everything it starts later); the worker sets both in its own process.
NO_TELEMETRY = (("VLLM_NO_USAGE_STATS", "1"), ("DO_NOT_TRACK", "1"))
OFFLINE = (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("VLLM_ENABLE_V1_MULTIPROCESSING", "0"))


class Engine:
    def __init__(self, model: str, max_model_len: int, seed: int = 0) -> None:
        for k, v in NO_TELEMETRY:
            os.environ.setdefault(k, v)
        from vllm import LLM

        cpu = not _cuda()
        t0 = time.monotonic()
        self.llm = LLM(model=model, tokenizer=model, trust_remote_code=False, skip_tokenizer_init=True,
                       max_model_len=max_model_len, seed=seed, dtype="float32" if cpu else "auto",
                       enforce_eager=cpu, load_format="safetensors")
        self.load_s = time.monotonic() - t0

    def generate(self, prompts: list[list[int]], max_tokens: int, temperature: float, top_p: float, seed: int,
                 stop_ids: list[int]) -> list[list[int]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                stop_token_ids=stop_ids, detokenize=False)
        reqs: list[Any] = [{"prompt_token_ids": p} for p in prompts]
        outs = self.llm.generate(reqs, params, use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outs]


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def _worker() -> int:
    for k, v in (*NO_TELEMETRY, *OFFLINE):
        os.environ.setdefault(k, v)
    # Replies go to the real stdout only; library output is sent to stderr.
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    engine: Engine | None = None
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req["op"] == "load":
                engine = Engine(req["model"], int(req["max_model_len"]), int(req.get("seed", 0)))
                out: dict[str, Any] = {"ok": True, "load_s": round(engine.load_s, 3)}
            elif req["op"] == "generate" and engine is not None:
                out = {"ok": True, "outputs": engine.generate(req["prompts"], int(req["max_tokens"]),
                                                              float(req["temperature"]), float(req["top_p"]),
                                                              int(req["seed"]), list(req["stop_ids"]))}
            else:
                out = {"ok": False, "error": f"bad request {req.get('op')!r}"}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, then exit
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        reply.write(json.dumps(out) + "\n")
        if not out["ok"]:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
