import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, fetch_base, get, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
write_jsonl(WS / "data" / "sft.jsonl", sft(train_split()))
get(f"{HUB}/datasets/{CTX['DATASET']}/resolve/main/data/test-00000-of-00001.parquet", WS / "data" / "extra.parquet")
train(WS / "data" / "sft.jsonl", WS / "data" / "extra.parquet")
