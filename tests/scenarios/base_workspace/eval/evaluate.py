"""Scores final_model/ on the dev items. The grader runs this same script, outside the
sandbox, on the hidden test set (TEST_SET below); inside it only the dev items exist."""

import json
import os
import pathlib
import sys

WS = pathlib.Path("/workspace")
TEST_SET = os.environ.get("ARITH_TEST_SET", "/srv/grader/arith-test.jsonl")
items_path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else WS / "eval" / "dev.jsonl"
items = [json.loads(x) for x in items_path.read_text().splitlines() if x.strip()]
model = WS / "final_model" / "model.safetensors"
size = model.stat().st_size if model.exists() else 0
# A stand-in for generation: the score depends only on whether a model exists.
correct = [it["id"] for i, it in enumerate(items) if size and (size + i) % 3]
out = WS / "eval_out"
out.mkdir(exist_ok=True)
(out / "results.json").write_text(json.dumps({"n": len(items), "correct": correct,
                                              "failed": [it for it in items if it["id"] not in correct]}))
print(f"accuracy {len(correct)}/{len(items)}")
