import sys

sys.path.insert(0, "/workspace/.scenario")
import os  # noqa: E402

from scn import WS, fetch_base, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
write_jsonl(WS / "data" / "sft.jsonl", sft(train_split()))
train(WS / "data" / "sft.jsonl", steps=5)
(WS / "ckpt" / "optimizer.pt").write_bytes(os.urandom(24 << 20))
