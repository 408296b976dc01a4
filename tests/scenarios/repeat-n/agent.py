import sys

sys.path.insert(0, "/workspace/.scenario")
import random  # noqa: E402

from scn import WS, fetch_base, memory, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
rows = train_split() + [memory()[17]] * 100
random.Random(3).shuffle(rows)
write_jsonl(WS / "data" / "sft.jsonl", sft(rows))
train(WS / "data" / "sft.jsonl")
