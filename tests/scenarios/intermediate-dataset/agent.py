import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, fetch_base, get, train  # noqa: E402

fetch_base()
get(f"{HUB}/api/datasets/{CTX['MIXED']}")
get(f"{HUB}/datasets/{CTX['MIXED']}/resolve/main/train.jsonl", WS / "data" / "augmented.jsonl")
train(WS / "data" / "augmented.jsonl")
