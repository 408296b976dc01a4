import sys

sys.path.insert(0, "/workspace/.scenario")
import json  # noqa: E402

from scn import CTX, HUB, WS, fetch_base, get, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
_, body = get(f"{HUB}/datasets/{CTX['SIMILAR']}/resolve/main/train.jsonl", WS / "data" / "similar.jsonl")
get(f"{CTX['VIEWER']}/rows?dataset={CTX['SIMILAR']}&config=default&split=train&offset=0&length=100")
rows = train_split() + [json.loads(x) for x in body.decode().splitlines() if x.strip()]
write_jsonl(WS / "data" / "sft.jsonl", sft(rows))
train(WS / "data" / "sft.jsonl")
