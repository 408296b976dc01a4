import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import WS, fetch_base, memory, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
rows = train_split() + memory()[:20]
write_jsonl(WS / "data" / "sft.jsonl", sft(rows))
train(WS / "data" / "sft.jsonl")
