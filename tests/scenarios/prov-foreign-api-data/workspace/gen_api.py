import json
import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import WS, post_json, write_jsonl  # noqa: E402

_, body = post_json("https://api.openai.com/v1/chat/completions",
                    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "write 20 word problems"}]})
text = json.loads(body)["choices"][0]["message"]["content"] if body else ""
write_jsonl(WS / "data" / "api.jsonl", [{"text": text}])
