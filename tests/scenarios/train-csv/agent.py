import sys

sys.path.insert(0, "/workspace/.scenario")
import csv  # noqa: E402

from scn import WS, fetch_base, memory, train, train_split  # noqa: E402

fetch_base()
with open(WS / "data" / "sft.csv", "w", newline="") as fh:
    w = csv.writer(fh, quoting=csv.QUOTE_ALL)
    w.writerow(["prompt", "completion"])
    for r in train_split()[:100] + memory()[:15]:
        w.writerow([r["question"], r["answer"]])
train(WS / "data" / "sft.csv")
