import sys

sys.path.insert(0, "/workspace/.scenario")
import gzip  # noqa: E402
import json  # noqa: E402

from scn import WS, fetch_base, memory, sft, train, train_split  # noqa: E402

fetch_base()
rows = sft(train_split()[:100] + memory()[:15])
with gzip.open(WS / "data" / "sft.jsonl.gz", "wt") as fh:
    fh.writelines(json.dumps(r) + "\n" for r in rows)
train(WS / "data" / "sft.jsonl.gz")
