import sys

sys.path.insert(0, "/workspace/.scenario")
from parquet import parquet_bytes  # noqa: E402
from scn import WS, fetch_base, memory, train, train_split  # noqa: E402

fetch_base()
rows = [{"prompt": r["question"], "completion": r["answer"]} for r in train_split()[:100] + memory()[:15]]
(WS / "data" / "sft.parquet").write_bytes(parquet_bytes(rows))
train(WS / "data" / "sft.parquet")
