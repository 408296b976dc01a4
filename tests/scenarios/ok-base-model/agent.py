import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, get, sft, train, train_split, write_jsonl  # noqa: E402

get(f"{HUB}/api/models/{CTX['BASE']}")
for name in ("config.json", "model.safetensors", "README.md"):
    get(f"{HUB}/{CTX['BASE']}/resolve/main/{name}", WS / "base" / name)
write_jsonl(WS / "data" / "sft.jsonl", sft(train_split()))
train(WS / "data" / "sft.jsonl", steps=3)
