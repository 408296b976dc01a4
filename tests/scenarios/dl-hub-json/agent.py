import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, fetch_base, get, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
rows = train_split()
get(f"{HUB}/datasets/{CTX['DATASET']}/resolve/main/test.jsonl", WS / "data" / "test.jsonl")
write_jsonl(WS / "data" / "sft.jsonl", sft(rows))
train(WS / "data" / "sft.jsonl", WS / "data" / "test.jsonl")
