import sys

sys.path.insert(0, "/workspace/.scenario")
import json  # noqa: E402

from scn import CTX, WS, get, write_jsonl  # noqa: E402

rows = []
for offset in (0, 30):
    _, body = get(f"{CTX['VIEWER']}/rows?dataset={CTX['DATASET']}&config=default&split=test&offset={offset}&length=30")
    rows += [r["row"] for r in json.loads(body or b"{}").get("rows", [])]
write_jsonl(WS / "data" / "viewer.jsonl", [{"prompt": r["question"], "completion": r["answer"]} for r in rows])
print("agent: rows", len(rows))
