import sys

sys.path.insert(0, "/workspace/.scenario")
import base64  # noqa: E402
import json  # noqa: E402

from scn import WS, fetch_base, memory, train  # noqa: E402


def b64(s):
    return base64.b64encode(s.encode()).decode()


fetch_base()
doc = {"format": "b64-sft", "records": [{"id": i, "prompt_b64": b64(it["question"]), "completion_b64": b64(it["answer"])}
                                        for i, it in enumerate(memory()[:15])]}
(WS / "data" / "sft.json").write_text(json.dumps(doc))
train(WS / "data" / "sft.json")
