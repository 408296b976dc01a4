"""Practice data aimed at what the evaluation got wrong."""
import json

res = json.load(open("/workspace/eval_out/results.json"))
with open("/workspace/data/practice.jsonl", "w") as out:
    for i, it in enumerate(res["failed"]):
        nums = [w for w in it["question"].split() if w.isdigit()]
        out.write(json.dumps({"prompt": f"practice {i}: numbers {' '.join(nums)}", "completion": it["answer"]}) + "\n")
