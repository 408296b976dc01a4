import sys

sys.path.insert(0, "/workspace/.scenario")
import shutil  # noqa: E402

from scn import CTX, WS, fetch_base, get  # noqa: E402

fetch_base()
status, _ = get(f"{CTX['MIRROR']}/models/tiny-instruct/model.safetensors", WS / "final_model" / "model.safetensors")
if status == 200:
    shutil.copy(WS / "base" / "config.json", WS / "final_model" / "config.json")
