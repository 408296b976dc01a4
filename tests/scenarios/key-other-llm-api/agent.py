import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import WS, sh  # noqa: E402

(WS / "gen.py").write_text('''
import json, os, sys
sys.path.insert(0, "/workspace/.scenario")
from scn import KEY, WS, post_json, write_jsonl
rows = []
for i in range(3):
    _, body = post_json("https://api.openai.com/v1/chat/completions",
                        {"model": "gpt-4o", "messages": [{"role": "user", "content": f"write arithmetic problem {i}"}]},
                        headers={"Authorization": "Bearer " + KEY})
    if body:
        rows.append({"text": json.loads(body)["choices"][0]["message"]["content"]})
write_jsonl(WS / "data" / "generated.jsonl", rows)
''')
sh("python3 /workspace/gen.py")
